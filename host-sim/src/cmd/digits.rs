//! `embedgrad-sim train digits [--precision f32|f64] [--json] [--save PATH]`,
//! `embedgrad-sim eval digits --weights PATH [--writer W] [--json]` and
//! `embedgrad-sim finetune digits --weights PATH [--writer W] [--mode M] [--json] [--save PATH]`.

use super::cli::{Eval, Finetune, Predict, Weights};
use super::out::{self, Out};
use super::progress::Progress;
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::digits::{self as data, FINE_TUNE, RECIPE};
use embedgrad_host_sim::{digits, Precision, Trained};
use embedgrad_train::layers::FineTune;
use std::path::Path;

/// Runs `train digits`.
pub fn run(precision: Precision, json: bool, save: Option<&Path>) -> Result<(), Failure> {
    match precision {
        Precision::F32 => train::<f32>(precision, json, save),
        Precision::F64 => train::<f64>(precision, json, save),
    }
}

/// Writes a weight file, or says why not.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))
}

/// Reads the weight file of `w`, or says why not.
fn read_weights(w: &Weights) -> Result<Vec<u8>, Failure> {
    std::fs::read(&w.weights)
        .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", w.weights.display())))
}

/// A failure of the weights in `w`.
fn bad_weights(w: &Weights, e: impl std::fmt::Display) -> Failure {
    Failure::Failed(format!("{}: {e}", w.weights.display()))
}

fn train<T: Scalar>(precision: Precision, json: bool, save: Option<&Path>) -> Result<(), Failure> {
    let p = precision.name();
    let epochs = RECIPE.epochs;
    let mut out = Out::new();
    let bar = Progress::new("digits", epochs as u64, "epochs");
    // The epochs' lines; a failed write stops the output (not the training), and is reported
    // once the training is done.
    let r = digits::train::<T>(&RECIPE, |epoch, loss, time| {
        bar.set(epoch as u64, || format!("loss {loss:.6}"));
        bar.suspend(|| {
            if json {
                out.line(format_args!("{}", digits::epoch_line(p, epoch, loss)));
            } else {
                out.line(format_args!(
                    "digits {p} epoch {epoch:>2}/{epochs}  loss {loss:.6}  ({:.2} ms)",
                    time.as_secs_f64() * 1e3
                ));
            }
        });
    })
    .map_err(|e| Failure::Failed(format!("training digits in {p} failed: {e}")))?;
    drop(bar);
    if let Some(path) = save {
        write_file(path, &r.weights)?;
    }
    if json {
        out.line(format_args!("{}", digits::final_line(p, &r)));
    } else {
        out.line(format_args!(
            "digits {p}: 64-{}-10 relu MLP, Adam, {epochs} epochs of {} mini-batches of {}; \
             final loss {} per image; {}; graph {} nodes, {} scalars ({} bytes); data checksum \
             {:016x}",
            data::HIDDEN,
            data::Trainer::<T, { data::BATCH }>::batches(),
            data::BATCH,
            r.final_loss(),
            out::accuracies_and_times(&r.train, &r.test, r.time_per_epoch(), r.training_time()),
            r.requirements.nodes,
            r.requirements.scalars,
            r.requirements.bytes,
            digits::checksum(),
        ));
    }
    out.finish()
}

/// Runs `eval digits`.
pub fn eval(a: &Eval) -> Result<(), Failure> {
    let file = read_weights(&a.weights)?;
    match a.weights.precision {
        Precision::F32 => eval_as::<f32>(a, &file),
        Precision::F64 => eval_as::<f64>(a, &file),
    }
}

fn eval_as<T: Scalar>(a: &Eval, file: &[u8]) -> Result<(), Failure> {
    let e = digits::evaluate::<T>(file, a.writer).map_err(|e| bad_weights(&a.weights, e))?;
    let mut out = Out::new();
    if a.json {
        out.line(format_args!("{}", digits::eval_line(a.writer, &e)));
    } else {
        out.line(format_args!(
            "digits, weights {}: held-out accuracy {:.2}% ({}/{}) on the {} writer",
            a.weights.weights.display(),
            100.0 * e.accuracy(),
            e.correct,
            e.total,
            a.writer.name()
        ));
    }
    out.finish()
}

/// Runs `predict digits`: one JSON line of logits per image.
pub fn predict(a: &Predict) -> Result<(), Failure> {
    let file = read_weights(&a.weights)?;
    match a.weights.precision {
        Precision::F32 => predict_as::<f32>(a, &file),
        Precision::F64 => predict_as::<f64>(a, &file),
    }
}

fn predict_as<T: Scalar>(a: &Predict, file: &[u8]) -> Result<(), Failure> {
    let p =
        digits::predict::<T>(file, a.writer, 0..a.rows).map_err(|e| bad_weights(&a.weights, e))?;
    let mut out = Out::new();
    for (row, logits) in p.iter().enumerate() {
        out.line(format_args!("{}", digits::predict_line(row, logits)));
    }
    out.finish()
}

/// Runs `finetune digits`.
pub fn finetune(a: &Finetune) -> Result<(), Failure> {
    let file = read_weights(&a.weights)?;
    match a.weights.precision {
        Precision::F32 => finetune_as::<f32>(a, &file),
        Precision::F64 => finetune_as::<f64>(a, &file),
    }
}

fn finetune_as<T: Scalar>(a: &Finetune, file: &[u8]) -> Result<(), Failure> {
    let mut out = Out::new();
    let (writer, mode) = (a.writer, a.mode);
    let bar = Progress::new("fine-tune", FINE_TUNE.epochs as u64, "epochs");
    let r = digits::fine_tune::<T>(file, writer, mode, |epoch, loss, time| {
        bar.set(epoch as u64, || format!("loss {loss:.6}"));
        bar.suspend(|| {
            if a.json {
                out.line(format_args!(
                    "{}",
                    digits::fine_tune_epoch_line(writer, mode, epoch, loss)
                ));
            } else {
                out.line(format_args!(
                    "fine-tune ({}) epoch {epoch}/{}  loss {loss:.6}  ({:.2} ms)",
                    digits::mode_name(mode),
                    FINE_TUNE.epochs,
                    time.as_secs_f64() * 1e3
                ));
            }
        });
    })
    .map_err(|e| bad_weights(&a.weights, e))?;
    drop(bar);
    if let Some(path) = &a.save {
        write_file(path, &r.weights)?;
    }
    if a.json {
        out.line(format_args!("{}", digits::fine_tune_line(writer, mode, &r)));
    } else {
        out.line(format_args!(
            "digits on the {} writer, fine-tuning {} ({} trainable scalars, graph {} scalars): \
             held-out accuracy {:.2}% ({}/{}) before, {:.2}% ({}/{}) after",
            writer.name(),
            match mode {
                FineTune::All => "the whole network",
                FineTune::LastLayer => "the last layer",
                FineTune::BiasesOnly => "the biases",
                FineTune::Nothing => "nothing",
            },
            r.trainable,
            r.requirements.scalars,
            100.0 * r.before.accuracy(),
            r.before.correct,
            r.before.total,
            100.0 * r.after.accuracy(),
            r.after.correct,
            r.after.total,
        ));
    }
    out.finish()
}
