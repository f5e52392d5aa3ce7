//! `embedgrad-sim plan <perceptron|mlp_xor|spiral_deep>`: the step plan of an example's
//! full-batch training step — its fused steps, and every buffer with its lifetime, offset and
//! size — next to what the interpreter needs.

use super::out::Out;
use super::Failure;
use embedgrad_core::{BufferKind, StepInfo};
use embedgrad_data::seed::Example;
use embedgrad_host_sim::run;

/// Runs `plan`.
pub fn run(example: Example) -> Result<(), Failure> {
    let r = run::plan_report(example).map_err(|e| Failure::Failed(e.to_string()))?;
    let s = r.summary;
    let mut out = Out::new();
    let bytes = |scalars: usize| scalars * 4;
    out.line(format_args!(
        "{}: full batch of {} rows, f32; {} steps forward ({} dense, {} fused loss)",
        example.name(),
        r.rows,
        s.steps,
        s.dense,
        s.losses
    ));
    out.line(format_args!(
        "\nsteps (forward order; the backward runs them in reverse):"
    ));
    for (i, st) in r.steps.iter().enumerate() {
        let text = match st {
            StepInfo::Dense { node, act } => {
                format!("dense layer -> node {} ({act:?})", node.index())
            }
            StepInfo::Loss { node } => {
                format!("softmax-cross-entropy -> loss node {}", node.index())
            }
            StepInfo::Op { node, name } => format!("{name} -> node {}", node.index()),
        };
        out.line(format_args!("  {i:>2}  {text}"));
    }
    let n = s.steps;
    out.line(format_args!(
        "\nbuffers (time t: forward step t for t < {n}, backward of step {} - t for t >= {n}; \
         {} = kept after the step):",
        2 * n - 1,
        2 * n
    ));
    out.line(format_args!(
        "  {:>8} {:>8} {:>8}  {:<6} {:<10} {:>5} {:>5}",
        "offset", "scalars", "bytes", "kind", "node", "from", "to"
    ));
    for b in &r.buffers {
        let kind = match b.kind {
            BufferKind::Value => "value",
            BufferKind::Grad => "grad",
            BufferKind::Probs => "p",
        };
        let name = r.names.get(b.node.index()).copied().unwrap_or("");
        out.line(format_args!(
            "  {:>8} {:>8} {:>8}  {:<6} {:<10} {:>5} {:>5}",
            b.offset,
            b.len,
            bytes(b.len),
            kind,
            format!("{} {}", b.node.index(), name),
            b.start,
            b.end
        ));
    }
    out.line(format_args!(
        "\nfixed values (inputs, targets, parameters): {} scalars ({} bytes)",
        r.fixed,
        bytes(r.fixed)
    ));
    out.line(format_args!(
        "shared region: {} scalars ({} bytes) for {} buffers",
        s.region,
        bytes(s.region),
        s.buffers
    ));
    out.line(format_args!(
        "planned step: {} scalars ({} bytes); interpreter: {} scalars ({} bytes): {:.1}%",
        s.scalars,
        bytes(s.scalars),
        s.unplanned_scalars,
        bytes(s.unplanned_scalars),
        100.0 * s.scalars as f64 / s.unplanned_scalars.max(1) as f64
    ));
    out.line(format_args!(
        "graph struct (64 nodes capacity on this host): {} bytes planned, {} unplanned",
        r.graph_bytes, r.unplanned_bytes
    ));
    out.finish()
}
