//! `embedgrad-sim train exercises`: the CNN's held-out accuracy goal, the GRU's result, the
//! JSON lines, f32 against f64.

mod common;

use common::{sim, text};
use embedgrad_data::exercises::{CNN, GRU};
use serde_json::Value;

/// Runs `train <name> --precision P --json`; checks every line's shape and returns the
/// per-epoch losses and the final object.
fn run(name: &str, precision: &str, epochs: usize) -> (Vec<f64>, Value) {
    let out = sim(&["train", name, "--precision", precision, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), epochs + 1);
    let mut losses = Vec::new();
    for (k, v) in lines[..epochs].iter().enumerate() {
        assert_eq!(v.as_object().unwrap().len(), 4, "{v}");
        assert_eq!(
            (&v["example"], &v["precision"]),
            (&name.into(), &precision.into())
        );
        assert_eq!(v["epoch"].as_u64(), Some(k as u64 + 1));
        losses.push(v["loss"].as_f64().unwrap());
    }
    let last = lines.last().unwrap().clone();
    let obj = last.as_object().unwrap();
    for key in [
        "example",
        "precision",
        "final_loss",
        "accuracy",
        "test_accuracy",
        "checksum",
    ] {
        assert!(obj.contains_key(key), "{key} missing from {last}");
    }
    assert_eq!(obj.len(), 6);
    assert_eq!(last["example"], name);
    // Accuracies are whole windows out of 784 and 196.
    let (train, test) = (
        last["accuracy"].as_f64().unwrap(),
        last["test_accuracy"].as_f64().unwrap(),
    );
    assert!(((train * 784.0).round() - train * 784.0).abs() < 1e-6);
    assert!(((test * 196.0).round() - test * 196.0).abs() < 1e-6);
    (losses, last)
}

#[test]
fn the_cnn_reaches_the_held_out_goal_in_both_precisions() {
    let (l32, f32_run) = run("exercises", "f32", CNN.epochs);
    let (l64, f64_run) = run("exercises", "f64", CNN.epochs);
    for (losses, last) in [(&l32, &f32_run), (&l64, &f64_run)] {
        // The goal: at least 95% of the 196 held-out windows.
        let test = last["test_accuracy"].as_f64().unwrap();
        assert!(test >= 0.95, "held-out accuracy {test}");
        assert!(losses[CNN.epochs - 1] < losses[0] / 10.0, "{losses:?}");
        let train = last["accuracy"].as_f64().unwrap();
        assert!(train >= test && train <= 1.0);
    }
    assert_eq!(f32_run["checksum"], f64_run["checksum"]);
    // The same run in two precisions: the final losses agree to a few percent (60 epochs of
    // f32 rounding through augmented batches).
    let (a, b) = (
        f32_run["final_loss"].as_f64().unwrap(),
        f64_run["final_loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 0.1 * b, "f32 {a} vs f64 {b}");
}

#[test]
fn the_gru_learns() {
    let (losses, last) = run("exercises-gru", "f32", GRU.epochs);
    // Stated, not a goal: about 93% of the held-out windows.
    let test = last["test_accuracy"].as_f64().unwrap();
    assert!(test >= 0.9, "held-out accuracy {test}");
    assert!(losses[GRU.epochs - 1] < losses[0] / 3.0, "{losses:?}");
}

#[test]
fn exercises_command_line() {
    // Fewer epochs: the start of the same run, bit for bit.
    let full = text(&sim(&["train", "exercises", "--json"]).stdout);
    let out = sim(&[
        "train",
        "--epochs",
        "3",
        "--json",
        "exercises",
        "--model",
        "cnn",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let short = text(&out.stdout);
    assert_eq!(short.lines().count(), 4);
    for (a, b) in short.lines().zip(full.lines()).take(3) {
        assert_eq!(a, b);
    }
    // `exercises-gru` is `--model gru`.
    let a = text(&sim(&["train", "exercises-gru", "--epochs", "1", "--json"]).stdout);
    let b = text(
        &sim(&[
            "train",
            "exercises",
            "--model",
            "gru",
            "--epochs",
            "1",
            "--json",
        ])
        .stdout,
    );
    assert_eq!(a, b);
    // Human-readable output ends with the summary.
    let out = sim(&["train", "exercises", "--epochs", "1"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2);
    assert!(stdout.contains("held-out accuracy"), "{stdout}");
    for (bad, says) in [
        (
            &["train", "exercises", "--plot", "d.svg"][..],
            "'--plot' cannot be used with 'exercises'",
        ),
        (
            &["train", "exercises", "extra"],
            "unexpected argument 'extra'",
        ),
        (
            &["train", "exercises", "--model", "lstm"],
            "invalid value 'lstm'",
        ),
        (
            &["train", "exercises-gru", "--model", "cnn"],
            "two different models",
        ),
        (
            &["train", "exercises", "--epochs", "0"],
            "invalid value '0'",
        ),
        (
            &["train", "exercises", "--epochs", "61"],
            "the cnn recipe has 60 epochs",
        ),
        (
            &["train", "exercises", "--json=yes"],
            "unexpected value 'yes'",
        ),
    ] {
        common::assert_usage_error(bad, says);
    }
}

#[test]
fn streaming_classifies_the_held_out_windows_as_the_batches_do() {
    let out = sim(&["stream", "exercises", "--hop", "16", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.last().unwrap();
    // 196 windows of 64 frames, a classification every 16 once the first window is full.
    assert_eq!(last["samples"].as_u64(), Some(196 * 64));
    assert_eq!(
        last["classifications"].as_u64(),
        Some((196 * 64 - 64) / 16 + 1)
    );
    assert_eq!(lines.len(), (196 * 64 - 64) / 16 + 2);
    // The windows that are exactly a held-out window get the batch evaluation's classes.
    assert_eq!(last["aligned_accuracy"], last["test_accuracy"]);
    assert!(last["test_accuracy"].as_f64().unwrap() >= 0.95);
    let aligned = lines.iter().filter(|l| l["aligned"] == true).count();
    assert_eq!(aligned, 196);
    for (bad, says) in [
        (
            &["stream", "exercises", "--hop", "0"][..],
            "invalid value '0' for '--hop <N>'",
        ),
        (
            &["stream", "exercises", "--hop", "65"],
            "65 is not in 1..=64",
        ),
        (&["stream", "digits"], "invalid value 'digits'"),
        (&["stream"], "required arguments were not provided"),
    ] {
        common::assert_usage_error(bad, says);
    }
}
