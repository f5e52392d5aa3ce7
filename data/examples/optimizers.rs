//! Gradient descent, momentum and Adam on `spiral_deep`: the same data, the same initial
//! weights (the seed example's), the same 6,000 full-batch steps; prints the final loss and
//! training accuracy of each, in f64 and f32.
//!
//! Momentum `μ` multiplies the effective step by `1/(1 − μ)` (10 for `μ = 0.9`): at gradient
//! descent's own `η` the loss of this deep sigmoid net spikes on the way (and where it ends
//! depends on rounding), at `η/10` it does not. Adam normalises each step, so its `η` is the
//! step size itself, whatever the scale of the (summed) loss.
//!
//! ```text
//! cargo run --release -p embedgrad-data --example optimizers
//! ```

use embedgrad_core::Scalar;
use embedgrad_data::seed::{self, Example};
use embedgrad_ops::prelude::*;
use embedgrad_train::{evaluate, minimize, Adam, Feeds, GradientDescent, Momentum, Optimizer};

/// Nodes and scalars the full-batch spiral graph needs (its `Graph::requirements`).
const NODES: usize = 27;
const SCALARS: usize = 64_056;
/// Trainable scalars of the 2-16-16-16-2 net.
const P: usize = 626;

/// Trains spiral_deep with `opt`; returns the loss after the last update and the number of
/// points classified correctly.
fn run<T: Scalar>(opt: &mut impl Optimizer<T>) -> Result<(T, usize), embedgrad_core::Error> {
    let ex = Example::SpiralDeep;
    let (mut xs, mut cs, mut labels) = (vec![T::ZERO; 400], vec![T::ZERO; 400], vec![0u8; 200]);
    let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels)?;
    let mut g: Box<StdGraph<T, NODES, SCALARS>> = Box::new(StdGraph::new());
    let net = seed::build::<T, _, NODES, SCALARS, 200>(ex, &mut g, &mut rng)?;
    g.feed_slice(net.x.id(), &xs)?;
    g.feed_slice(net.c.id(), &cs)?;
    for _ in 0..ex.steps() {
        minimize(opt, &mut g, net.loss)?;
    }
    let feeds = Feeds {
        x: net.x.id(),
        y: net.c.id(),
        loss: net.loss.id(),
    };
    evaluate(&mut g, feeds, net.p.id(), &xs, &cs, &labels)
}

fn report<T: Scalar>(name: &str, r: Result<(T, usize), embedgrad_core::Error>) {
    match r {
        Ok((loss, correct)) => println!(
            "| {name:<36} | {:>4} | {:>10.4} | {:>7.1}% |",
            T::NAME,
            loss,
            correct as f64 / 2.0
        ),
        Err(e) => println!("| {name:<36} | {:>4} | failed: {e} |", T::NAME),
    }
}

fn table<T: Scalar>() {
    let f = T::from_f64;
    let eta = Example::SpiralDeep.learning_rate();
    report::<T>(
        "gradient descent, η = 0.005",
        run(&mut GradientDescent::new(f(eta))),
    );
    report::<T>(
        "momentum 0.9, η = 0.005",
        run(&mut Momentum::<T, P>::new(f(eta), f(0.9))),
    );
    report::<T>(
        "momentum 0.9, η = 0.0005",
        run(&mut Momentum::<T, P>::new(f(eta / 10.0), f(0.9))),
    );
    report::<T>(
        "Nesterov 0.9, η = 0.0005",
        run(&mut Momentum::<T, P>::nesterov(f(eta / 10.0), f(0.9))),
    );
    report::<T>("Adam, η = 0.001", run(&mut Adam::<T, P>::new(f(0.001))));
    report::<T>("Adam, η = 0.01", run(&mut Adam::<T, P>::new(f(0.01))));
}

fn main() {
    println!("spiral_deep, 6,000 full-batch steps from the seed's initial weights\n");
    println!("| optimizer                            | type | final loss | accuracy |");
    println!("| ------------------------------------ | ---- | ---------: | -------: |");
    table::<f64>();
    table::<f32>();
}
