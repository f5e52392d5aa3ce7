//! Weights in and out on the command line: `train digits --save`, `eval digits --weights`,
//! `finetune digits`.

mod common;

use common::{sim, text};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

fn last_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("embedgrad-weights-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn saved_weights_evaluate_and_fine_tune_as_trained() {
    let d = dir("cli");
    let path = d.join("digits.safetensors");
    let p = path.to_str().unwrap();
    let trained = last_json(&sim(&["train", "digits", "--json", "--save", p]));
    // The file is safetensors: a header length, then a JSON header naming the four tensors.
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["0.weight"]["shape"], serde_json::json!([32, 64]));
    assert_eq!(header["2.bias"]["dtype"], "F32");
    assert_eq!(bytes.len(), 8 + n + 4 * 2410);

    // Evaluating the file gives the held-out accuracy the training reported.
    let e = last_json(&sim(&["eval", "digits", "--weights", p, "--json"]));
    assert_eq!(e["test_accuracy"], trained["test_accuracy"]);
    assert_eq!(
        (e["writer"].as_str(), e["total"].as_u64()),
        (Some("original"), Some(360))
    );

    // Fine-tuning to the unseen writer: the accuracy on that writer rises; the whole network
    // gains more than the last layer; the saved result evaluates to what was reported.
    let tuned = d.join("tuned.safetensors");
    let t = tuned.to_str().unwrap();
    let last = last_json(&sim(&[
        "finetune",
        "digits",
        "--weights",
        p,
        "--json",
        "--save",
        t,
    ]));
    let all = last_json(&sim(&[
        "finetune",
        "digits",
        "--weights",
        p,
        "--mode",
        "all",
        "--json",
    ]));
    let before = last["before"].as_f64().unwrap();
    let unseen = last_json(&sim(&[
        "eval",
        "digits",
        "--weights",
        p,
        "--writer",
        "unseen",
        "--json",
    ]));
    assert_eq!(unseen["test_accuracy"].as_f64(), Some(before));
    assert!(before < 0.5, "{last}");
    assert!(
        last["test_accuracy"].as_f64().unwrap() > before + 0.3,
        "{last}"
    );
    assert!(all["test_accuracy"].as_f64().unwrap() > last["test_accuracy"].as_f64().unwrap());
    assert_eq!(
        (last["trainable"].as_u64(), all["trainable"].as_u64()),
        (Some(330), Some(2410))
    );
    assert!(last["scalars"].as_u64() < all["scalars"].as_u64());
    let again = last_json(&sim(&[
        "eval",
        "digits",
        "--weights",
        t,
        "--writer",
        "unseen",
        "--json",
    ]));
    assert_eq!(again["test_accuracy"], last["test_accuracy"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn bad_weight_files_and_command_lines_fail_with_one_line() {
    let d = dir("bad");
    let trunc = d.join("truncated.safetensors");
    let p = d.join("digits.safetensors");
    assert!(sim(&["train", "digits", "--save", p.to_str().unwrap()])
        .status
        .success());
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&trunc, &bytes[..bytes.len() - 100]).unwrap();
    let missing = d.join("nothing-here.safetensors");
    let (trunc, missing) = (trunc.to_str().unwrap(), missing.to_str().unwrap());
    common::assert_failure(
        &["eval", "digits", "--weights", trunc],
        "tensor \"2.weight\": data_offsets [8320, 9600] outside the 9540 bytes",
    );
    common::assert_failure(&["eval", "digits", "--weights", missing], "cannot read");
    for (args, says) in [
        (&["eval", "digits"][..], "--weights <PATH>"),
        (
            &["eval", "mlp_xor", "--weights", "x"],
            "[possible values: digits]",
        ),
        (
            &["eval", "digits", "--weights", "x", "--writer", "left"],
            "invalid value 'left' for '--writer <WRITER>'",
        ),
        (
            &["finetune", "digits", "--weights", "x", "--mode", "half"],
            "invalid value 'half' for '--mode <MODE>'",
        ),
        (
            &["eval", "digits", "--weights", "x", "--mode", "all"],
            "unexpected argument '--mode'",
        ),
    ] {
        common::assert_usage_error(args, says);
    }
    std::fs::remove_dir_all(&d).unwrap();
}
