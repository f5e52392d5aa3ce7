//! `embedgrad-sim train digits [--precision f32|f64] [--json] [--save PATH]`,
//! `embedgrad-sim eval digits --weights PATH [--writer W] [--json]` and
//! `embedgrad-sim finetune digits --weights PATH [--writer W] [--mode M] [--json] [--save PATH]`.

use super::args::{no_value, Arg, Args};
use super::out::Out;
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::digits::{self as data, Writer, FINE_TUNE, RECIPE};
use embedgrad_host_sim::{digits, Precision};
use embedgrad_train::layers::FineTune;

/// Whether a `train` command line names the digits: its first positional argument (skipping
/// the values of `--precision` and `--plot`) is `digits`.
pub fn wanted(args: &[String]) -> bool {
    let mut args = Args::new(args);
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, None) if f == "--precision" || f == "--plot" => {
                let _ = args.value(&f, None);
            }
            Arg::Flag(..) => {}
            Arg::Positional(p) => return p == "digits",
        }
    }
    false
}

/// Runs `train digits ...` (`args` after `train`).
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut args = Args::new(args);
    let (mut precision, mut json, mut seen) = (Precision::F32, false, false);
    let mut save = None;
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--precision" => {
                let v = args.value(&f, v)?;
                precision = Precision::from_name(&v).ok_or_else(|| {
                    Failure::Usage(format!("unknown precision '{v}' (expected f32 or f64)"))
                })?;
            }
            Arg::Flag(f, v) if f == "--json" => {
                no_value(&f, v)?;
                json = true;
            }
            Arg::Flag(f, v) if f == "--save" => save = Some(args.value(&f, v)?),
            Arg::Flag(f, _) if f == "--help" || f == "-h" => {
                return super::help();
            }
            Arg::Flag(f, _) if f == "--plot" => {
                return Err(Failure::Usage(
                    "train digits draws no picture (--plot)".into(),
                ))
            }
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(p) if p == "digits" && !seen => seen = true,
            Arg::Positional(extra) => {
                return Err(Failure::Usage(format!("unexpected argument '{extra}'")))
            }
        }
    }
    match precision {
        Precision::F32 => train::<f32>(precision, json, save.as_deref()),
        Precision::F64 => train::<f64>(precision, json, save.as_deref()),
    }
}

/// Writes a weight file, or says why not.
fn write_file(path: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::Failed(format!("cannot write {path}: {e}")))
}

/// Reads a weight file, or says why not.
fn read_file(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Failed(format!("cannot read {path}: {e}")))
}

fn train<T: Scalar>(precision: Precision, json: bool, save: Option<&str>) -> Result<(), Failure> {
    let p = precision.name();
    let epochs = RECIPE.epochs;
    let mut out = Out::new();
    // The epochs' lines; a failed write stops the output (not the training), and is reported
    // once the training is done.
    let r = digits::train::<T>(&RECIPE, |epoch, loss, time| {
        if json {
            out.line(format_args!("{}", digits::epoch_line(p, epoch, loss)));
        } else {
            out.line(format_args!(
                "digits {p} epoch {epoch:>2}/{epochs}  loss {loss:.6}  ({:.2} ms)",
                time.as_secs_f64() * 1e3
            ));
        }
    })
    .map_err(|e| Failure::Failed(format!("training digits in {p} failed: {e}")))?;
    if let Some(path) = save {
        write_file(path, &r.weights)?;
    }
    if json {
        out.line(format_args!("{}", digits::final_line(p, &r)));
    } else {
        out.line(format_args!(
            "digits {p}: 64-{}-10 relu MLP, Adam, {epochs} epochs of {} mini-batches of {}; \
             final loss {} per image; training accuracy {:.2}% ({}/{}), held-out accuracy \
             {:.2}% ({}/{}); {:.2} ms per epoch ({:.0} ms in all); graph {} nodes, {} scalars \
             ({} bytes); data checksum {:016x}",
            data::HIDDEN,
            data::Trainer::<T, { data::BATCH }>::batches(),
            data::BATCH,
            r.final_loss(),
            100.0 * r.train.accuracy(),
            r.train.correct,
            r.train.total,
            100.0 * r.test.accuracy(),
            r.test.correct,
            r.test.total,
            r.time_per_epoch().as_secs_f64() * 1e3,
            r.training_time().as_secs_f64() * 1e3,
            r.requirements.nodes,
            r.requirements.scalars,
            r.requirements.bytes,
            digits::checksum(),
        ));
    }
    out.finish()
}

/// The options `eval` and `finetune` share.
struct WeightsArgs {
    weights: String,
    writer: Writer,
    mode: FineTune,
    json: bool,
    save: Option<String>,
    precision: Precision,
}

/// Reads `<command> digits --weights PATH [--writer W] [--json] [--precision P]` and, for
/// `finetune`, `[--mode M] [--save PATH]`.
fn weights_args(
    command: &str,
    args: &[String],
    tune: bool,
) -> Result<Option<WeightsArgs>, Failure> {
    let mut args = Args::new(args);
    let (mut weights, mut seen) = (None, false);
    let mut w = WeightsArgs {
        weights: String::new(),
        writer: if tune {
            Writer::Unseen
        } else {
            Writer::Original
        },
        mode: FineTune::LastLayer,
        json: false,
        save: None,
        precision: Precision::F32,
    };
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--weights" => weights = Some(args.value(&f, v)?),
            Arg::Flag(f, v) if f == "--writer" => {
                let v = args.value(&f, v)?;
                w.writer = Writer::from_name(&v).ok_or_else(|| {
                    Failure::Usage(format!(
                        "unknown writer '{v}' (expected original, slanted, thick, shifted or unseen)"
                    ))
                })?;
            }
            Arg::Flag(f, v) if f == "--precision" => {
                let v = args.value(&f, v)?;
                w.precision = Precision::from_name(&v).ok_or_else(|| {
                    Failure::Usage(format!("unknown precision '{v}' (expected f32 or f64)"))
                })?;
            }
            Arg::Flag(f, v) if f == "--json" => {
                no_value(&f, v)?;
                w.json = true;
            }
            Arg::Flag(f, v) if tune && f == "--mode" => {
                let v = args.value(&f, v)?;
                w.mode = digits::mode_from_name(&v)
                    .filter(|&m| m != FineTune::Nothing)
                    .ok_or_else(|| {
                        Failure::Usage(format!("unknown mode '{v}' (expected last, all or biases)"))
                    })?;
            }
            Arg::Flag(f, v) if tune && f == "--save" => w.save = Some(args.value(&f, v)?),
            Arg::Flag(f, _) if f == "--help" || f == "-h" => {
                super::help()?;
                return Ok(None);
            }
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(p) if p == "digits" && !seen => seen = true,
            Arg::Positional(p) if !seen => {
                return Err(Failure::Usage(format!(
                    "{command} knows the digits model only, not '{p}'"
                )))
            }
            Arg::Positional(extra) => {
                return Err(Failure::Usage(format!("unexpected argument '{extra}'")))
            }
        }
    }
    if !seen {
        return Err(Failure::Usage(format!(
            "{command} needs a model: {command} digits"
        )));
    }
    w.weights =
        weights.ok_or_else(|| Failure::Usage(format!("{command} digits needs --weights PATH")))?;
    Ok(Some(w))
}

/// Runs `eval digits ...` (`args` after `eval`).
pub fn eval(args: &[String]) -> Result<(), Failure> {
    let Some(a) = weights_args("eval", args, false)? else {
        return Ok(());
    };
    let file = read_file(&a.weights)?;
    match a.precision {
        Precision::F32 => eval_as::<f32>(&a, &file),
        Precision::F64 => eval_as::<f64>(&a, &file),
    }
}

fn eval_as<T: Scalar>(a: &WeightsArgs, file: &[u8]) -> Result<(), Failure> {
    let e = digits::evaluate::<T>(file, a.writer)
        .map_err(|e| Failure::Failed(format!("{}: {e}", a.weights)))?;
    let mut out = Out::new();
    if a.json {
        out.line(format_args!("{}", digits::eval_line(a.writer, &e)));
    } else {
        out.line(format_args!(
            "digits, weights {}: held-out accuracy {:.2}% ({}/{}) on the {} writer",
            a.weights,
            100.0 * e.accuracy(),
            e.correct,
            e.total,
            a.writer.name()
        ));
    }
    out.finish()
}

/// Runs `predict digits --weights PATH [--rows N] ...` (`args` after `predict`): one JSON
/// line of logits per image.
pub fn predict(args: &[String]) -> Result<(), Failure> {
    // `--rows N` is read here; the rest as for `eval`.
    let mut rest = Vec::new();
    let mut rows = 16usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--rows" || a.starts_with("--rows=") {
            let v = match a.strip_prefix("--rows=") {
                Some(v) => v.to_string(),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure::Usage("--rows needs a value".into()))?,
            };
            rows = v
                .parse()
                .ok()
                .filter(|&n| n > 0 && n <= data::SAMPLES)
                .ok_or_else(|| {
                    Failure::Usage(format!("--rows must be 1..={}, not '{v}'", data::SAMPLES))
                })?;
        } else {
            rest.push(a.clone());
        }
    }
    let Some(a) = weights_args("predict", &rest, false)? else {
        return Ok(());
    };
    let file = read_file(&a.weights)?;
    match a.precision {
        Precision::F32 => predict_as::<f32>(&a, &file, rows),
        Precision::F64 => predict_as::<f64>(&a, &file, rows),
    }
}

fn predict_as<T: Scalar>(a: &WeightsArgs, file: &[u8], rows: usize) -> Result<(), Failure> {
    let p = digits::predict::<T>(file, a.writer, 0..rows)
        .map_err(|e| Failure::Failed(format!("{}: {e}", a.weights)))?;
    let mut out = Out::new();
    for (row, logits) in p.iter().enumerate() {
        out.line(format_args!("{}", digits::predict_line(row, logits)));
    }
    out.finish()
}

/// Runs `finetune digits ...` (`args` after `finetune`).
pub fn finetune(args: &[String]) -> Result<(), Failure> {
    let Some(a) = weights_args("finetune", args, true)? else {
        return Ok(());
    };
    let file = read_file(&a.weights)?;
    match a.precision {
        Precision::F32 => finetune_as::<f32>(&a, &file),
        Precision::F64 => finetune_as::<f64>(&a, &file),
    }
}

fn finetune_as<T: Scalar>(a: &WeightsArgs, file: &[u8]) -> Result<(), Failure> {
    let mut out = Out::new();
    let (writer, mode) = (a.writer, a.mode);
    let r = digits::fine_tune::<T>(file, writer, mode, |epoch, loss, time| {
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
    })
    .map_err(|e| Failure::Failed(format!("{}: {e}", a.weights)))?;
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
