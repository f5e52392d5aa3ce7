//! `embedgrad-sim sensor-demo`: online learning from the simulated accelerometer, through bus
//! errors.

mod common;

use common::{sim, text};
use serde_json::Value;

fn demo(args: &[&str]) -> Value {
    let mut all = vec!["sensor-demo", "--json"];
    all.extend_from_slice(args);
    let out = sim(&all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn int(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn real(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// The bookkeeping every run must satisfy, whatever the seed.
fn consistent(v: &Value, samples: u64) {
    assert_eq!(int(v, "samples"), samples);
    // Every read either failed (sample dropped) or delivered a labelled sample.
    assert_eq!(int(v, "labelled") + int(v, "bus_errors"), samples);
    // One step per full batch of 4.
    assert_eq!(int(v, "steps"), int(v, "labelled") / 4);
    // Each failed read was followed by a check that weights and Adam's state were unchanged.
    assert_eq!(int(v, "state_checks"), int(v, "bus_errors"));
    assert_eq!(int(v, "test_total"), 200);
}

#[test]
fn learns_online_through_bus_errors() {
    for seed in ["1", "7", "11"] {
        let v = demo(&["--seed", seed, "--samples", "400"]);
        consistent(&v, 400);
        assert!(int(&v, "bus_errors") > 0, "{v}");
        // It learned: from about chance on the first predictions to nearly always right.
        assert!(real(&v, "first_accuracy") < 0.8, "{v}");
        assert!(real(&v, "running_accuracy") >= 0.9, "{v}");
        assert!(real(&v, "test_accuracy") >= 0.95, "{v}");
    }
}

#[test]
fn a_very_flaky_bus_slows_learning_but_does_not_stop_it() {
    // 5% of transactions fail: about a third of the 8-reading samples.
    let v = demo(&["--error-rate", "0.05", "--samples", "600"]);
    consistent(&v, 600);
    assert!(int(&v, "bus_errors") > 100, "{v}");
    assert!(int(&v, "test_bus_errors") > 0, "{v}");
    assert!(real(&v, "test_accuracy") >= 0.95, "{v}");
    // And a perfect bus has no errors at all.
    let v = demo(&["--error-rate", "0", "--samples", "100"]);
    consistent(&v, 100);
    assert_eq!((int(&v, "bus_errors"), int(&v, "test_bus_errors")), (0, 0));
}

#[test]
fn human_output_shows_progress_errors_and_a_summary() {
    let out = sim(&["sensor-demo", "--samples", "200", "--seed", "7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("sensor-demo: a simulated MPU-6050"));
    let status = lines
        .iter()
        .filter(|l| l.contains("running accuracy"))
        .count();
    assert_eq!(status, 4); // every 50 samples
    let errors = lines.iter().filter(|l| l.contains("bus error (")).count();
    assert!(lines.last().unwrap().starts_with("summary: "));
    let v = demo(&["--samples", "200", "--seed", "7"]);
    assert_eq!(errors as u64, int(&v, "bus_errors"));
}

#[test]
fn bad_options_are_usage_errors() {
    for (bad, says) in [
        (
            &["sensor-demo", "--samples", "0"][..],
            "invalid value '0' for '--samples <N>': must be at least 1",
        ),
        (
            &["sensor-demo", "--samples", "many"],
            "invalid value 'many'",
        ),
        (
            &["sensor-demo", "--error-rate", "0.9"],
            "must be from 0 to 0.5",
        ),
        (
            &["sensor-demo", "--frobnicate"],
            "unexpected argument '--frobnicate'",
        ),
        (&["sensor-demo", "extra"], "unexpected argument 'extra'"),
    ] {
        common::assert_usage_error(bad, says);
    }
}
