//! `embedgrad-sim [--out DIR]`: trains every seed example in f32 and draws it.

use super::args::{Arg, Args};
use super::out::{err_line, Out};
use super::Failure;
use embedgrad_data::seed::Example;
use embedgrad_host_sim::{plot, run};
use std::path::PathBuf;
use std::time::Instant;

/// Cells per side of the prediction grid of a picture.
const GRID: usize = 120;

/// Runs the examples.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut args = Args::new(args);
    let mut out = PathBuf::from("out");
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--out" => out = PathBuf::from(args.value(&f, v)?),
            Arg::Flag(f, _) if f == "--help" || f == "-h" => {
                return super::help();
            }
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(p) => return Err(Failure::Usage(format!("unknown command '{p}'"))),
        }
    }
    std::fs::create_dir_all(&out).map_err(|e| {
        Failure::Failed(format!(
            "cannot create output directory {}: {e}",
            out.display()
        ))
    })?;
    let mut summary = Vec::new();
    for ex in Example::ALL {
        let steps = ex.steps();
        let every = (steps / 10).max(10);
        let name = ex.name();
        err_line(format_args!(
            "training {name} in f32: {steps} full-batch steps"
        ));
        let start = Instant::now();
        let r = run::train::<f32>(ex, Some(GRID), |step, loss| {
            if step % every == 0 || step == steps {
                let bar = "#".repeat(20 * step / steps.max(1));
                err_line(format_args!(
                    "  {name:<11} [{bar:<20}] step {step:>5}/{steps}  loss {loss}"
                ));
            }
        })
        .map_err(|e| Failure::Failed(format!("training {name} failed: {e}")))?;
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let path = out.join(format!("{name}.svg"));
        std::fs::write(&path, plot::figure(&r))
            .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))?;
        err_line(format_args!(
            "  {name}: final loss {}, accuracy {:.1}% in {ms:.0} ms",
            r.final_loss,
            100.0 * r.accuracy()
        ));
        summary.push((path, r.final_loss, r.accuracy(), ms));
    }
    let mut stdout = Out::new();
    stdout.line(format_args!(
        "wrote a picture of each example (data, decision regions, loss curve) to {}/:",
        out.display()
    ));
    for (path, loss, acc, ms) in summary {
        stdout.line(format_args!(
            "  final loss {loss:<11} accuracy {:>5.1}%  {ms:>6.0} ms  {}",
            100.0 * acc,
            path.display()
        ));
    }
    stdout.finish()
}
