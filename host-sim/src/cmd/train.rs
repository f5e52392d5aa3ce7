//! `embedgrad-sim train <perceptron|mlp_xor|spiral_deep> [--precision f32|f64] [--json]
//! [--plot PATH] [--plan]`.

use super::cli::Train;
use super::out::{err_line, Out};
use super::progress::Progress;
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::seed::Example;
use embedgrad_host_sim::{json, plot, run, Precision};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Cells per side of the prediction grid of a picture.
pub const GRID: usize = 120;

struct Options<'a> {
    example: Example,
    precision: Precision,
    json: bool,
    planned: bool,
    plot: Option<(&'a Path, File)>,
}

/// Runs `train <example>`.
pub fn run(
    example: Example,
    precision: Precision,
    json: bool,
    args: &Train,
) -> Result<(), Failure> {
    // Open the picture's file first, so that a bad path fails before the training.
    let plot = match &args.plot {
        Some(path) => Some((
            path.as_path(),
            File::create(path).map_err(|e| {
                Failure::Failed(format!("cannot write plot to {}: {e}", path.display()))
            })?,
        )),
        None => None,
    };
    let opts = Options {
        example,
        precision,
        json,
        planned: args.plan,
        plot,
    };
    match precision {
        Precision::F32 => train::<f32>(opts),
        Precision::F64 => train::<f64>(opts),
    }
}

fn train<T: Scalar>(opts: Options<'_>) -> Result<(), Failure> {
    let (ex, p, as_json) = (opts.example, opts.precision.name(), opts.json);
    let steps = ex.steps();
    let every = (steps / 10).max(10);
    let start = Instant::now();
    let grid = opts.plot.as_ref().map(|_| GRID);
    let mut out = Out::new();
    let bar = Progress::new(ex.name(), steps as u64, "steps");
    // The steps' lines; a failed write stops the output (not the training), and is reported
    // once the training is done.
    let r = run::train_opt::<T>(ex, grid, opts.planned, |step, loss| {
        bar.set(step as u64, || format!("loss {loss}"));
        if as_json {
            bar.suspend(|| {
                out.line(format_args!(
                    "{}",
                    json::step_line(ex.name(), p, step, loss)
                ))
            });
        } else if step % every == 0 || step == steps {
            bar.suspend(|| {
                out.line(format_args!(
                    "{} {p} step {step:>5}/{steps}  loss {loss}",
                    ex.name()
                ))
            });
        }
    })
    .map_err(|e| Failure::Failed(format!("training {} in {p} failed: {e}", ex.name())))?;
    let elapsed = start.elapsed();
    drop(bar);
    let checksum = match opts.precision {
        Precision::F32 => ex.checksum_f32(),
        Precision::F64 => ex.checksum_f64(),
    };
    if as_json {
        out.line(format_args!(
            "{}",
            json::final_line(ex.name(), p, r.final_loss, r.accuracy(), checksum)
        ));
    } else {
        out.line(format_args!(
            "{} {p}: final loss {}, training accuracy {:.1}% ({}/{}), {steps} steps in {:.1} ms; \
             graph {} nodes, {} scalars ({} bytes); data checksum {checksum:016x}",
            ex.name(),
            r.final_loss,
            100.0 * r.accuracy(),
            r.correct,
            r.points,
            elapsed.as_secs_f64() * 1e3,
            r.requirements.nodes,
            r.requirements.scalars,
            r.requirements.bytes,
        ));
    }
    if let Some((path, mut file)) = opts.plot {
        file.write_all(plot::figure(&r).as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| {
                Failure::Failed(format!("cannot write plot to {}: {e}", path.display()))
            })?;
        let msg = format!("wrote the picture to {}", path.display());
        if as_json {
            err_line(format_args!("{msg}"));
        } else {
            out.line(format_args!("{msg}"));
        }
    }
    out.finish()
}
