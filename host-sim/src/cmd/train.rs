//! `embedgrad-sim train <example> [--precision f32|f64] [--json] [--plot PATH] [--plan]`.

use super::args::{no_value, Arg, Args};
use super::out::{err_line, Out};
use super::Failure;
use embedgrad_core::Scalar;
use embedgrad_data::seed::Example;
use embedgrad_host_sim::{json, plot, run, Precision};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

/// Cells per side of the prediction grid of a picture.
const GRID: usize = 120;

struct Options {
    example: Example,
    precision: Precision,
    json: bool,
    plot: Option<PathBuf>,
    planned: bool,
}

fn parse(args: &[String]) -> Result<Option<Options>, Failure> {
    let mut args = Args::new(args);
    let (mut example, mut precision, mut json, mut plot) = (None, Precision::F32, false, None);
    let mut planned = false;
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
            Arg::Flag(f, v) if f == "--plan" => {
                no_value(&f, v)?;
                planned = true;
            }
            Arg::Flag(f, v) if f == "--plot" => plot = Some(PathBuf::from(args.value(&f, v)?)),
            Arg::Flag(f, _) if f == "--help" || f == "-h" => return Ok(None),
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(name) if example.is_none() => {
                example = Some(Example::from_name(&name).ok_or_else(|| {
                    Failure::Usage(format!(
                        "unknown example '{name}' (expected perceptron, mlp_xor or spiral_deep)"
                    ))
                })?);
            }
            Arg::Positional(extra) => {
                return Err(Failure::Usage(format!("unexpected argument '{extra}'")))
            }
        }
    }
    let example = example.ok_or_else(|| {
        Failure::Usage("train needs an example: perceptron, mlp_xor or spiral_deep".into())
    })?;
    Ok(Some(Options {
        example,
        precision,
        json,
        plot,
        planned,
    }))
}

/// Runs `train`.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let Some(opts) = parse(args)? else {
        return super::help();
    };
    // Open the picture's file first, so that a bad path fails before the training.
    let plot_file = match &opts.plot {
        Some(path) => Some((
            path,
            File::create(path).map_err(|e| {
                Failure::Failed(format!("cannot write plot to {}: {e}", path.display()))
            })?,
        )),
        None => None,
    };
    match opts.precision {
        Precision::F32 => train::<f32>(&opts, plot_file),
        Precision::F64 => train::<f64>(&opts, plot_file),
    }
}

fn train<T: Scalar>(opts: &Options, plot_file: Option<(&PathBuf, File)>) -> Result<(), Failure> {
    let (ex, p, as_json) = (opts.example, opts.precision.name(), opts.json);
    let steps = ex.steps();
    let every = (steps / 10).max(10);
    let start = Instant::now();
    let grid = plot_file.as_ref().map(|_| GRID);
    let mut out = Out::new();
    // The steps' lines; a failed write stops the output (not the training), and is reported
    // once the training is done.
    let r = run::train_opt::<T>(ex, grid, opts.planned, |step, loss| {
        if as_json {
            out.line(format_args!(
                "{}",
                json::step_line(ex.name(), p, step, loss)
            ));
        } else if step % every == 0 || step == steps {
            out.line(format_args!(
                "{} {p} step {step:>5}/{steps}  loss {loss}",
                ex.name()
            ));
        }
    })
    .map_err(|e| Failure::Failed(format!("training {} in {p} failed: {e}", ex.name())))?;
    let elapsed = start.elapsed();
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
    if let Some((path, mut file)) = plot_file {
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
