//! `embedgrad-sim train digits [--precision f32|f64] [--json]`.

use super::args::{no_value, Arg, Args};
use super::out::Out;
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::digits::{self as data, RECIPE};
use embedgrad_host_sim::{digits, Precision};

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
        Precision::F32 => train::<f32>(precision, json),
        Precision::F64 => train::<f64>(precision, json),
    }
}

fn train<T: Scalar>(precision: Precision, json: bool) -> Result<(), Failure> {
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
