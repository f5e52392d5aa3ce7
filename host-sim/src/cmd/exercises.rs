//! `embedgrad-sim train exercises [--model cnn|gru] [--precision f32|f64] [--json] [--epochs N]`
//! (`train exercises-gru` is `train exercises --model gru`).

use super::cli::{Stream, Train};
use super::out::{self, Out};
use super::progress::Progress;
use super::Failure;
use clap::error::ErrorKind;
use embedgrad_core::Scalar;
use embedgrad_data::exercises::{Model, Recipe, CNN, GRU};
use embedgrad_host_sim::{exercises, Precision, Trained};

/// The recipe of a model.
pub fn recipe(model: Model) -> Recipe {
    match model {
        Model::Cnn => CNN,
        Model::Gru => GRU,
    }
}

/// Runs `train exercises` (`named`: the model the command's name fixes, as
/// `train exercises-gru` does).
pub fn run(args: &Train, named: Option<Model>) -> Result<(), Failure> {
    let (precision, json) = (args.precision, args.json);
    let model = match (named, args.model) {
        (Some(a), Some(b)) if a != b => {
            return Err(Failure::usage(
                &["train"],
                ErrorKind::ArgumentConflict,
                format!(
                    "two different models: --model {} for exercises-{}",
                    b.name(),
                    a.name()
                ),
            ))
        }
        (a, b) => a.or(b).unwrap_or(Model::Cnn),
    };
    let recipe = recipe(model);
    let epochs = args.epochs.unwrap_or(recipe.epochs);
    if epochs > recipe.epochs {
        return Err(Failure::usage(
            &["train"],
            ErrorKind::ValueValidation,
            format!(
                "--epochs {epochs}: the {} recipe has {} epochs",
                recipe.model.name(),
                recipe.epochs
            ),
        ));
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
    let bar = Progress::new(name, epochs as u64, "epochs");
    let r = exercises::train::<T>(recipe, epochs, |epoch, loss, time| {
        bar.set(epoch as u64, || format!("loss {loss:.6}"));
        bar.suspend(|| {
            if json {
                out.line(format_args!("{}", exercises::epoch_line(m, p, epoch, loss)));
            } else {
                out.line(format_args!(
                    "{name} {p} epoch {epoch:>2}/{epochs}  loss {loss:.6}  ({:.2} ms)",
                    time.as_secs_f64() * 1e3
                ));
            }
        });
    })
    .map_err(|e| Failure::Failed(format!("training {name} in {p} failed: {e}")))?;
    drop(bar);
    if json {
        out.line(format_args!("{}", exercises::final_line(p, &r)));
    } else {
        out.line(format_args!(
            "{name} {p}: {} ({} parameters), Adam, {epochs} epochs of {} mini-batches of {}; \
             final loss {} per window; {}; graph {} nodes, {} scalars planned ({} unplanned); \
             data checksum {:016x}",
            m.name(),
            m.parameters(),
            embedgrad_data::exercises::BATCHES,
            embedgrad_data::exercises::BATCH,
            r.final_loss(),
            out::accuracies_and_times(&r.train, &r.test, r.time_per_epoch(), r.training_time()),
            r.requirements.nodes,
            r.requirements.scalars,
            r.requirements.unplanned_scalars,
            exercises::checksum(),
        ));
    }
    out.finish()
}

/// Runs `stream exercises [--hop N] [--json]`.
pub fn stream(args: &Stream) -> Result<(), Failure> {
    let (hop, json) = (args.hop, args.json);
    let spinner =
        Progress::spinner("training the exercises CNN, then streaming the held-out frames");
    let r = exercises::stream(hop)
        .map_err(|e| Failure::Failed(format!("streaming the exercises failed: {e}")))?;
    drop(spinner);
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
