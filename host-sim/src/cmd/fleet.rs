//! `embedgrad-sim fleet-client --client C --clients N --round R --weights PATH --out PATH
//! [--summary PATH] [--json]` and `embedgrad-sim fleet-client --init --out PATH`: the host
//! reference of the federated client firmware (`firmware/boards/src/fleet.rs`).
//!
//! It runs `embedgrad_data::digits::fleet::Client::fit` with `fleet::LOCAL` in f32 on the
//! global model read from `--weights` (PyTorch-layout safetensors) and writes the local
//! model to `--out` in the same layout, F32. The summary line, on standard output and in
//! `--summary`, is the firmware's `summary.txt` line byte for byte:
//! `rows=<n> steps=<n> loss=<f32> epochs=0..<epochs>`; with `--json`, standard output gets
//! `{"client":C,"clients":N,"round":R,"rows":n,"steps":n,"loss":L,"epochs":E}` instead.
//! `--init` writes the global model's initial weights (`fleet::INITIAL_SEED`, the same on
//! every client) to `--out`: the model of round 0.

use super::cli::FleetClient;
use super::out::Out;
use super::Failure;
use embedgrad_data::digits::{self as data, fleet};
use embedgrad_ops::prelude::*;
use embedgrad_train::safetensors::Dtype;

const B: usize = data::BATCH;
type FleetGraph = StdGraph<f32, { data::NODES }, { data::capacity(B).1 }>;

/// The summary line both the firmware and this command write.
pub fn summary_line(s: &fleet::FitSummary<f32>, from: u32, to: u32) -> String {
    format!(
        "rows={} steps={} loss={} epochs={from}..{to}",
        s.rows, s.steps, s.loss
    )
}

/// Runs `fleet-client`.
pub fn run(a: &FleetClient) -> Result<(), Failure> {
    let failed = |what: &str, e: &dyn std::fmt::Display| Failure::Failed(format!("{what}: {e}"));
    let mut g: Box<FleetGraph> = Box::new(StdGraph::new());
    let mut c: Box<fleet::Client<f32, B>> = Box::new(fleet::Client::empty());
    c.init(&mut g, a.client, a.clients).map_err(|e| {
        failed(
            &format!("client {} of a fleet of {}", a.client, a.clients),
            &e,
        )
    })?;
    let net = *c.net();
    if !a.init {
        let Some(path) = &a.weights else {
            return Err(Failure::usage(
                &["fleet-client"],
                clap::error::ErrorKind::MissingRequiredArgument,
                "--weights PATH is required unless --init is given",
            ));
        };
        let file = std::fs::read(path)
            .map_err(|e| failed(&format!("cannot read {}", path.display()), &e))?;
        net.load_weights(&mut g, &file)
            .map_err(|e| failed(&format!("{}: bad weights", path.display()), &e))?;
    }
    let summary = if a.init {
        None
    } else {
        Some(
            c.fit(&mut g, a.round, &fleet::LOCAL)
                .map_err(|e| failed("local training failed", &e))?,
        )
    };
    let mut bytes = Vec::new();
    net.save_weights(&g, Dtype::F32, |b| {
        bytes.extend_from_slice(b);
        true
    })
    .map_err(|e| failed("writing the weights", &e))?;
    std::fs::write(&a.out, &bytes)
        .map_err(|e| failed(&format!("cannot write {}", a.out.display()), &e))?;
    let mut out = Out::new();
    if let Some(s) = summary {
        let line = summary_line(&s, 0, fleet::LOCAL.epochs);
        if let Some(path) = &a.summary {
            std::fs::write(path, format!("{line}\n"))
                .map_err(|e| failed(&format!("cannot write {}", path.display()), &e))?;
        }
        if a.json {
            out.line(format_args!(
                "{}",
                serde_json::json!({
                    "client": a.client,
                    "clients": a.clients,
                    "round": a.round,
                    "rows": s.rows,
                    "steps": s.steps,
                    "loss": s.loss,
                    "epochs": fleet::LOCAL.epochs,
                })
            ));
        } else {
            out.line(format_args!("{line}"));
        }
    } else if a.json {
        out.line(format_args!(
            "{}",
            serde_json::json!({ "init": true, "seed": fleet::INITIAL_SEED, "bytes": bytes.len() })
        ));
    } else {
        out.line(format_args!(
            "initial global model (seed {}) written to {} ({} bytes)",
            fleet::INITIAL_SEED,
            a.out.display(),
            bytes.len()
        ));
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The firmware's round, epoch by epoch with the loss summed as its checkpoint keeps it,
    /// and resumed from a copy of the weights after epoch 2, gives `fit`'s bits.
    #[test]
    fn resumed_epochs_are_fit() {
        let round = 7;
        let setup = || {
            let mut g: Box<FleetGraph> = Box::new(StdGraph::new());
            let mut c: Box<fleet::Client<f32, B>> = Box::new(fleet::Client::empty());
            c.init(&mut g, 3, 10).unwrap();
            (g, c)
        };
        let (mut g, mut c) = setup();
        let whole = c.fit(&mut g, round, &fleet::LOCAL).unwrap();
        let (mut h, mut d) = setup();
        d.begin_round(&fleet::LOCAL);
        let (mut total, mut steps) = (0.0f32, 0);
        for e in 0..2 {
            let (l, n) = d.epoch(&mut h, round, e, &fleet::LOCAL).unwrap();
            total += l;
            steps += n;
        }
        // "Power cut": a new client and graph, the weights carried over as bytes.
        let mut file = Vec::new();
        d.net()
            .save_weights(&h, Dtype::F32, |b| {
                file.extend_from_slice(b);
                true
            })
            .unwrap();
        let (mut k, mut e2) = setup();
        e2.net().load_weights(&mut k, &file).unwrap();
        e2.begin_round(&fleet::LOCAL);
        for e in 2..fleet::LOCAL.epochs {
            let (l, n) = e2.epoch(&mut k, round, e, &fleet::LOCAL).unwrap();
            total += l;
            steps += n;
        }
        let seen = e2.rows().len() * fleet::LOCAL.epochs as usize;
        assert_eq!(steps, whole.steps);
        assert_eq!((total / seen as f32).to_bits(), whole.loss.to_bits());
        let net = *c.net();
        let net2 = *e2.net();
        for (a, b) in [(net.w1.id(), net2.w1.id()), (net.b2.id(), net2.b2.id())] {
            let (a, b) = (g.value_slice(a).unwrap(), k.value_slice(b).unwrap());
            assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        assert_eq!(
            summary_line(&whole, 0, 5),
            format!(
                "rows={} steps=50 loss={} epochs=0..5",
                whole.rows, whole.loss
            )
        );
    }
}
