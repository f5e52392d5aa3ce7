//! The `embedgrad-sim` binary: JSON lines, step numbering, pictures and errors.

mod common;

use common::{sim, text};
use embedgrad_data::seed::Example;
use embedgrad_host_sim::run;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `train <example> --precision <p> --json` and checks the shape of every line; returns
/// the logged `(step, loss text)` and the final object.
fn train_json(ex: Example, precision: &str) -> (Vec<(usize, String)>, Value) {
    let out = sim(&["train", ex.name(), "--precision", precision, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), ex.steps() / 10 + 2, "{}", ex.name());
    let mut steps = Vec::new();
    for (k, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(v["example"], ex.name());
        assert_eq!(v["precision"], precision);
        if k + 1 < lines.len() {
            let obj = v.as_object().unwrap();
            assert_eq!(obj.len(), 4, "{line}");
            let step = v["step"].as_u64().unwrap() as usize;
            assert!(v["loss"].is_number(), "{line}");
            // The loss exactly as written, to check its form.
            let loss = line
                .split("\"loss\":")
                .nth(1)
                .unwrap()
                .trim_end_matches('}')
                .to_string();
            steps.push((step, loss));
        }
    }
    let want: Vec<usize> = (0..ex.steps()).step_by(10).chain([ex.steps()]).collect();
    assert_eq!(steps.iter().map(|s| s.0).collect::<Vec<_>>(), want);
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last.as_object().unwrap().len(), 5);
    (steps, last)
}

#[test]
fn json_lines_of_every_example_and_precision() {
    let checksums = [
        (Example::Perceptron, "d0ec1218075b58ac", "05c0073ffcde3185"),
        (Example::MlpXor, "788d8d58f737ce72", "7a85ad9b5d1500fe"),
        (Example::SpiralDeep, "7a0486418d4bb7c9", "2dfb12bb971deda7"),
    ];
    for (ex, sum64, sum32) in checksums {
        for (precision, sum) in [("f32", sum32), ("f64", sum64)] {
            let (steps, last) = train_json(ex, precision);
            assert_eq!(last["checksum"], sum, "{} {precision}", ex.name());
            // The final loss is the loss logged at step = steps, to the last digit.
            let final_text = last["final_loss"].to_string();
            assert_eq!(
                steps.last().map(|s| s.1.as_str()),
                Some(final_text.as_str())
            );
            let accuracy = last["accuracy"].as_f64().unwrap();
            let want = match ex {
                Example::Perceptron => 1.0,
                Example::MlpXor => 0.9,
                Example::SpiralDeep => 0.98,
            };
            assert!(accuracy >= want, "{} {precision}: {accuracy}", ex.name());
            // Losses in shortest round-trip form of their precision: parsing and printing
            // again gives the same text, and no exponent, NaN or infinity appears.
            for (_, loss) in &steps {
                let again = if precision == "f32" {
                    loss.parse::<f32>().unwrap().to_string()
                } else {
                    loss.parse::<f64>().unwrap().to_string()
                };
                assert_eq!(&again, loss);
            }
        }
    }
}

#[test]
fn json_losses_are_the_graphs_losses_to_the_bit() {
    let (steps, last) = train_json(Example::MlpXor, "f64");
    let r = run::train::<f64>(Example::MlpXor, None, |_, _| {}).unwrap();
    let parsed: Vec<(usize, f64)> = steps
        .iter()
        .map(|(s, l)| (*s, l.parse::<f64>().unwrap()))
        .collect();
    assert_eq!(parsed, r.log);
    assert_eq!(last["accuracy"].as_f64().unwrap(), r.accuracy());
    let (steps, _) = train_json(Example::Perceptron, "f32");
    let r = run::train::<f32>(Example::Perceptron, None, |_, _| {}).unwrap();
    let parsed: Vec<(usize, f32)> = steps
        .iter()
        .map(|(s, l)| (*s, l.parse::<f32>().unwrap()))
        .collect();
    assert_eq!(parsed, r.log);
}

#[test]
fn human_output_and_precision_default() {
    let out = sim(&["train", "perceptron"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("perceptron f32 step     0/100"), "{stdout}");
    assert!(
        stdout.contains("training accuracy 100.0% (100/100)"),
        "{stdout}"
    );
    assert!(stdout.contains("05c0073ffcde3185"), "{stdout}");
}

#[test]
fn plot_writes_an_svg() {
    let dir = scratch("plot");
    let path = dir.join("p.svg");
    let out = sim(&[
        "train",
        "perceptron",
        "--json",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stdout stays pure JSON; the note about the picture goes to stderr.
    for line in text(&out.stdout).lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    assert!(text(&out.stderr).contains("p.svg"));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("separating line"));
    assert!(svg.contains("perceptron (f32)"));
}

#[test]
fn no_arguments_trains_everything_and_draws_it() {
    let dir = scratch("all");
    let out = sim(&["--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    for ex in Example::ALL {
        let path = dir.join(format!("{}.svg", ex.name()));
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<polyline"), "{}: no loss curve", ex.name());
        assert!(stdout.contains(&format!("{}.svg", ex.name())), "{stdout}");
        // Progress: a line for the first and the last step of each example.
        assert!(
            stderr.contains(&format!("step {:>5}/{}", ex.steps(), ex.steps())),
            "{stderr}"
        );
    }
    assert!(stdout.contains(dir.to_str().unwrap()), "{stdout}");
}

#[test]
fn help() {
    for (args, shows) in [
        (&["--help"][..], "Usage: embedgrad-sim [OPTIONS]"),
        (&["-h"], "Usage: embedgrad-sim [OPTIONS]"),
        (&["help"], "Usage: embedgrad-sim [OPTIONS]"),
        (&["help", "train"], "Usage: embedgrad-sim train"),
        (&["train", "--help"], "Usage: embedgrad-sim train"),
        (&["train", "perceptron", "--help"], "--plot <PATH>"),
        (&["train", "digits", "--help"], "Possible values:"),
        (&["train", "digits", "-h"], "--save <PATH>"),
        (&["sensor-demo", "--help"], "--error-rate <P>"),
    ] {
        let out = sim(args);
        assert!(out.status.success(), "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}");
        let stdout = text(&out.stdout);
        assert!(stdout.contains(shows), "{args:?}: {stdout}");
        assert!(stdout.ends_with('\n'), "{args:?}");
    }
    // Every command and every example is listed with its help line.
    let top = text(&sim(&["--help"]).stdout);
    for command in [
        "train",
        "plan",
        "eval",
        "predict",
        "finetune",
        "stream",
        "sensor-demo",
    ] {
        assert!(top.contains(&format!("\n  {command} ")), "{command}: {top}");
    }
    assert!(top.contains("Exit status: 0 on success"), "{top}");
    let train = text(&sim(&["train", "--help"]).stdout);
    for example in [
        "perceptron",
        "mlp_xor",
        "spiral_deep",
        "digits",
        "exercises",
        "exercises-gru",
    ] {
        assert!(
            train.contains(&format!("- {example}:")),
            "{example}: {train}"
        );
    }
    assert!(train.contains("[possible values: f32, f64]"), "{train}");
    let version = text(&sim(&["--version"]).stdout);
    assert_eq!(
        version,
        format!("embedgrad-sim {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_are_clap_errors_with_exit_2() {
    for (args, says) in [
        (
            &["train", "nope"][..],
            "invalid value 'nope' for '<EXAMPLE>'",
        ),
        (&["train"], "required arguments were not provided"),
        (
            &["train", "perceptron", "--save", "x"],
            "'--save' cannot be used with 'perceptron'",
        ),
        (
            &["train", "perceptron", "--frobnicate"],
            "unexpected argument '--frobnicate' found",
        ),
        (
            &["train", "perceptron", "-x"],
            "unexpected argument '-x' found",
        ),
        (
            &["train", "perceptron", "--precision"],
            "a value is required for '--precision <PRECISION>' but none was supplied",
        ),
        (
            &["train", "perceptron", "--precision", "--json"],
            "a value is required",
        ),
        (
            &["train", "perceptron", "--precision", "f16"],
            "invalid value 'f16' for '--precision <PRECISION>'",
        ),
        (
            &["train", "perceptron", "--plot"],
            "a value is required for '--plot <PATH>'",
        ),
        (
            &["train", "perceptron", "--json=yes"],
            "unexpected value 'yes' for '--json'",
        ),
        (
            &["train", "perceptron", "mlp_xor"],
            "unexpected argument 'mlp_xor' found",
        ),
        (
            &["plan", "nope"],
            "[possible values: perceptron, mlp_xor, spiral_deep]",
        ),
        (&["plan"], "required arguments were not provided"),
        (&["bogus"], "unrecognized subcommand 'bogus'"),
        (&["--out"], "a value is required for '--out <DIR>'"),
        (
            &["--frobnicate"],
            "unexpected argument '--frobnicate' found",
        ),
        (&["--out", "x", "plan", "mlp_xor"], "cannot be used with"),
    ] {
        common::assert_usage_error(args, says);
    }
    // The options every example takes may come before the example, as they always could.
    let out = sim(&["train", "--precision", "f64", "--json", "perceptron"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(r#""precision":"f64""#));
}

#[test]
fn failures_while_running_are_one_line_and_exit_1() {
    let dir = scratch("errors");
    let missing_dir = dir.join("no-such-dir").join("p.svg");
    let is_a_dir = dir.to_str().unwrap().to_string();
    for path in [missing_dir.to_str().unwrap(), &is_a_dir] {
        common::assert_failure(
            &["train", "perceptron", "--plot", path],
            "cannot write plot",
        );
    }
}

/// The commands whose output the write-error tests check (fast ones: `train digits` takes a
/// second or so).
const OUTPUT_COMMANDS: &[&[&str]] = &[
    &["sensor-demo"],
    &["sensor-demo", "--json"],
    &["train", "perceptron"],
    &["train", "perceptron", "--json"],
    &["train", "digits"],
    &["train", "digits", "--json"],
    &["--help"],
    &["train", "--help"],
];

/// Runs the binary with stdout going to `stdout` and returns its status and stderr.
fn sim_to(args: &[&str], stdout: std::process::Stdio) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_embedgrad-sim"))
        .args(args)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    (out.status.code(), text(&out.stderr))
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_one_error_line_and_exit_1() {
    for args in OUTPUT_COMMANDS {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (code, stderr) = sim_to(args, full.into());
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("embedgrad-sim: error: cannot write to standard output: "),
            "{args:?}: {stderr}"
        );
    }
}

/// The simulator with `args`, its stdout and stderr pipes to this test.
#[cfg(unix)]
fn spawn_piped(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_embedgrad-sim"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly_with_exit_0() {
    for args in OUTPUT_COMMANDS {
        let mut child = spawn_piped(args);
        // The reader goes away before reading anything (`| head -0`): every write is EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn a_pipe_closed_after_the_first_line_ends_quietly_with_exit_0() {
    use std::io::{BufRead, BufReader};
    for args in OUTPUT_COMMANDS {
        let mut child = spawn_piped(args);
        // `| head -1`: one line read, then the pipe closed.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{args:?}");
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stderr_does_not_panic() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    // A usage error whose message cannot be written still exits 2, not 101.
    let status = Command::new(env!("CARGO_BIN_EXE_embedgrad-sim"))
        .args(["train", "nope"])
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    // The note about the picture goes to stderr with --json.
    let dir = scratch("full-stderr");
    let path = dir.join("p.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_embedgrad-sim"))
        .args(["train", "perceptron", "--json", "--plot"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(full())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(path.exists());
}

#[test]
fn plan_prints_the_memory_plan_of_an_example() {
    let out = sim(&["plan", "mlp_xor"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("3 steps forward (2 dense, 1 fused loss)"), "{t}");
    assert!(
        t.contains("planned step: 1019 scalars (4076 bytes); interpreter: 3828 scalars"),
        "{t}"
    );
    // Every buffer line: offset, scalars, bytes, kind, node, lifetime.
    assert_eq!(
        t.lines()
            .filter(|l| l.contains(" grad ") || l.contains(" value ") || l.contains(" p "))
            .count(),
        10,
        "{t}"
    );
    let planned = sim(&["train", "mlp_xor", "--plan", "--json"]);
    assert!(planned.status.success());
    assert!(text(&planned.stdout).contains("\"final_loss\":16.4917"));
}
