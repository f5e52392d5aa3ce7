//! `embedgrad-sim train digits`: the held-out accuracy goal, the JSON lines, f32 against f64.

mod common;

use common::{sim, text};
use embedgrad_data::digits::RECIPE;
use serde_json::Value;

/// Runs `train digits --precision P --json`; checks every line's shape and returns the
/// per-epoch losses and the final object.
fn run(precision: &str) -> (Vec<f64>, Value) {
    let out = sim(&["train", "digits", "--precision", precision, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), RECIPE.epochs + 1);
    let mut losses = Vec::new();
    for (k, v) in lines[..RECIPE.epochs].iter().enumerate() {
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 4, "{v}");
        assert_eq!(
            (&v["example"], &v["precision"]),
            (&"digits".into(), &precision.into())
        );
        assert_eq!(v["epoch"].as_u64(), Some(k as u64 + 1));
        losses.push(v["loss"].as_f64().unwrap());
    }
    let last = lines.last().unwrap().clone();
    let keys: Vec<&str> = last
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "example",
        "precision",
        "final_loss",
        "accuracy",
        "test_accuracy",
        "checksum",
    ] {
        assert!(keys.contains(&key), "{key} missing from {last}");
    }
    assert_eq!(keys.len(), 6);
    (losses, last)
}

#[test]
fn digits_reach_the_held_out_goal_in_both_precisions() {
    let (l32, f32_run) = run("f32");
    let (l64, f64_run) = run("f64");
    for (losses, last) in [(&l32, &f32_run), (&l64, &f64_run)] {
        // The goal: at least 95% of the 360 held-out images.
        let test = last["test_accuracy"].as_f64().unwrap();
        assert!(test >= 0.95, "held-out accuracy {test}");
        // Learned, not memorised noise: the training loss fell by more than ten times and the
        // training accuracy is at least the held-out one.
        assert!(losses[RECIPE.epochs - 1] < losses[0] / 10.0, "{losses:?}");
        let train = last["accuracy"].as_f64().unwrap();
        assert!(train >= test && train <= 1.0);
        // Accuracies are whole images out of 1437 and 360.
        assert!(((train * 1437.0).round() - train * 1437.0).abs() < 1e-6);
        assert!(((test * 360.0).round() - test * 360.0).abs() < 1e-6);
    }
    // Same data (checksum of the bytes) and the same run in two precisions: the final losses
    // agree to well within f32's accumulated rounding.
    assert_eq!(f32_run["checksum"], f64_run["checksum"]);
    let (a, b) = (
        f32_run["final_loss"].as_f64().unwrap(),
        f64_run["final_loss"].as_f64().unwrap(),
    );
    assert!((a - b).abs() <= 1e-3 * b, "f32 {a} vs f64 {b}");
}

#[test]
fn digits_command_line() {
    // Options before or after the name.
    let out = sim(&["train", "--precision", "f64", "--json", "digits"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), RECIPE.epochs + 1);
    // Human-readable output ends with the summary.
    let out = sim(&["train", "digits"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), RECIPE.epochs + 1);
    assert!(
        stdout.lines().last().unwrap().contains("held-out accuracy"),
        "{stdout}"
    );
    // Errors are usage errors (status 2) in clap's form.
    for (bad, says) in [
        (
            &["train", "digits", "--plot", "d.svg"][..],
            "'--plot' cannot be used with 'digits'",
        ),
        (&["train", "digits", "extra"], "unexpected argument 'extra'"),
        (
            &["train", "digits", "--precision", "f16"],
            "invalid value 'f16'",
        ),
        (
            &["train", "digits", "--json=yes"],
            "unexpected value 'yes' for '--json'",
        ),
        (
            &["train", "digits", "--epochs", "3"],
            "'--epochs' cannot be used with 'digits'",
        ),
    ] {
        common::assert_usage_error(bad, says);
    }
}
