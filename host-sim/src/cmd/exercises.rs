//! `embedgrad-sim train exercises [--model cnn|gru] [--precision f32|f64] [--json] [--epochs N]`
//! (`train exercises-gru` is `train exercises --model gru`).

use super::args::{no_value, Arg, Args};
use super::out::Out;
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::exercises::{Model, Recipe, CNN, GRU};
use embedgrad_host_sim::{exercises, Precision};

/// Whether a `train` command line names the exercises: its first positional argument
/// (skipping the values of the options that take one) is `exercises` or `exercises-gru`.
pub fn wanted(args: &[String]) -> bool {
    let mut args = Args::new(args);
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, None)
                if ["--precision", "--plot", "--model", "--epochs"].contains(&f.as_str()) =>
            {
                let _ = args.value(&f, None);
            }
            Arg::Flag(..) => {}
            Arg::Positional(p) => return p == "exercises" || p == "exercises-gru",
        }
    }
    false
}

/// The recipe of a model.
pub fn recipe(model: Model) -> Recipe {
    match model {
        Model::Cnn => CNN,
        Model::Gru => GRU,
    }
}

/// Runs `train exercises ...` (`args` after `train`).
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut args = Args::new(args);
    let (mut precision, mut json, mut seen) = (Precision::F32, false, false);
    let (mut model, mut epochs) = (None, None);
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--precision" => {
                let v = args.value(&f, v)?;
                precision = Precision::from_name(&v).ok_or_else(|| {
                    Failure::Usage(format!("unknown precision '{v}' (expected f32 or f64)"))
                })?;
            }
            Arg::Flag(f, v) if f == "--model" => {
                let v = args.value(&f, v)?;
                let m = Model::from_name(&v).ok_or_else(|| {
                    Failure::Usage(format!("unknown model '{v}' (expected cnn or gru)"))
                })?;
                if model.is_some_and(|old| old != m) {
                    return Err(Failure::Usage("two different models".into()));
                }
                model = Some(m);
            }
            Arg::Flag(f, v) if f == "--epochs" => {
                let v = args.value(&f, v)?;
                epochs = Some(v.parse::<usize>().ok().filter(|&e| e > 0).ok_or_else(|| {
                    Failure::Usage(format!("--epochs wants a whole number from 1, not '{v}'"))
                })?);
            }
            Arg::Flag(f, v) if f == "--json" => {
                no_value(&f, v)?;
                json = true;
            }
            Arg::Flag(f, _) if f == "--help" || f == "-h" => return super::help(),
            Arg::Flag(f, _) if f == "--plot" => {
                return Err(Failure::Usage(
                    "train exercises draws no picture (--plot)".into(),
                ))
            }
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(p) if (p == "exercises" || p == "exercises-gru") && !seen => {
                seen = true;
                if p == "exercises-gru" {
                    if model == Some(Model::Cnn) {
                        return Err(Failure::Usage("two different models".into()));
                    }
                    model = Some(Model::Gru);
                }
            }
            Arg::Positional(extra) => {
                return Err(Failure::Usage(format!("unexpected argument '{extra}'")))
            }
        }
    }
    let recipe = recipe(model.unwrap_or(Model::Cnn));
    let epochs = epochs.unwrap_or(recipe.epochs);
    if epochs > recipe.epochs {
        return Err(Failure::Usage(format!(
            "--epochs {epochs}: the {} recipe has {} epochs",
            recipe.model.name(),
            recipe.epochs
        )));
    }
    match precision {
        Precision::F32 => train::<f32>(precision, json, &recipe, epochs),
        Precision::F64 => train::<f64>(precision, json, &recipe, epochs),
    }
}

fn train<T: Scalar>(
    precision: Precision,
    json: bool,
    recipe: &Recipe,
    epochs: usize,
) -> Result<(), Failure> {
    let p = precision.name();
    let m = recipe.model;
    let name = exercises::example_name(m);
    let mut out = Out::new();
    let r = exercises::train::<T>(recipe, epochs, |epoch, loss, time| {
        if json {
            out.line(format_args!("{}", exercises::epoch_line(m, p, epoch, loss)));
        } else {
            out.line(format_args!(
                "{name} {p} epoch {epoch:>2}/{epochs}  loss {loss:.6}  ({:.2} ms)",
                time.as_secs_f64() * 1e3
            ));
        }
    })
    .map_err(|e| Failure::Failed(format!("training {name} in {p} failed: {e}")))?;
    if json {
        out.line(format_args!("{}", exercises::final_line(p, &r)));
    } else {
        out.line(format_args!(
            "{name} {p}: {} ({} parameters), Adam, {epochs} epochs of {} mini-batches of {}; \
             final loss {} per window; training accuracy {:.2}% ({}/{}), held-out accuracy \
             {:.2}% ({}/{}); {:.2} ms per epoch ({:.0} ms in all); graph {} nodes, {} scalars \
             planned ({} unplanned); data checksum {:016x}",
            m.name(),
            m.parameters(),
            exercises_batches(),
            embedgrad_data::exercises::BATCH,
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
            r.requirements.unplanned_scalars,
            exercises::checksum(),
        ));
    }
    out.finish()
}

fn exercises_batches() -> usize {
    embedgrad_data::exercises::BATCHES
}

/// Runs `stream exercises [--hop N] [--json]` (`args` after `stream`).
pub fn stream(args: &[String]) -> Result<(), Failure> {
    let mut args = Args::new(args);
    let (mut hop, mut json, mut seen) = (16usize, false, false);
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--hop" => {
                let v = args.value(&f, v)?;
                hop = v
                    .parse::<usize>()
                    .ok()
                    .filter(|h| (1..=64).contains(h))
                    .ok_or_else(|| Failure::Usage(format!("--hop wants 1 to 64, not '{v}'")))?;
            }
            Arg::Flag(f, v) if f == "--json" => {
                no_value(&f, v)?;
                json = true;
            }
            Arg::Flag(f, _) if f == "--help" || f == "-h" => return super::help(),
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(p) if p == "exercises" && !seen => seen = true,
            Arg::Positional(p) => {
                return Err(Failure::Usage(format!(
                    "stream knows the exercises CNN only, not '{p}'"
                )))
            }
        }
    }
    if !seen {
        return Err(Failure::Usage(
            "stream needs a model: stream exercises".into(),
        ));
    }
    let r = exercises::stream(hop)
        .map_err(|e| Failure::Failed(format!("streaming the exercises failed: {e}")))?;
    let mut out = Out::new();
    for c in &r.classified {
        if json {
            out.line(format_args!("{}", exercises::stream_line(c)));
        } else {
            out.line(format_args!(
                "sample {:>6}: {} (window of {}){}",
                c.sample,
                class_name(c.class),
                class_name(c.label),
                if c.aligned { ", aligned" } else { "" }
            ));
        }
    }
    if json {
        out.line(format_args!("{}", exercises::stream_final_line(hop, &r)));
    } else {
        let right = r.classified.iter().filter(|c| c.class == c.label).count();
        out.line(format_args!(
            "exercises: {} held-out frames streamed, classified every {hop}: {right}/{} right; \
             held-out accuracy in batches {:.2}%",
            r.samples,
            r.classified.len(),
            100.0 * r.test.accuracy()
        ));
    }
    out.finish()
}

fn class_name(c: usize) -> &'static str {
    embedgrad_data::exercises::CLASS_NAMES
        .get(c)
        .copied()
        .unwrap_or("?")
}
