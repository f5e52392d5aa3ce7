//! `embedgrad-sim [--out DIR]`: trains every seed example in f32 and draws it.

use super::out::{err_line, Out};
use super::progress::Progress;
use super::train::GRID;
use super::Failure;
use embedgrad_data::seed::Example;
use embedgrad_host_sim::{plot, run};
use std::path::Path;
use std::time::Instant;

/// Trains every seed example and writes its picture into `out`. Progress goes to stderr: a bar
/// on a terminal, the loss every 10% of the steps otherwise.
pub fn run(out: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(out).map_err(|e| {
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
        let progress = Progress::new(&format!("  {name:<11}"), steps as u64, "steps");
        let r = run::train::<f32>(ex, Some(GRID), |step, loss| {
            if progress.visible() {
                progress.set(step as u64, || format!("loss {loss}"));
            } else if step % every == 0 || step == steps {
                let bar = "#".repeat(20 * step / steps.max(1));
                err_line(format_args!(
                    "  {name:<11} [{bar:<20}] step {step:>5}/{steps}  loss {loss}"
                ));
            }
        })
        .map_err(|e| Failure::Failed(format!("training {name} failed: {e}")))?;
        drop(progress);
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
