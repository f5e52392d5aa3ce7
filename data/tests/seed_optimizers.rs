//! Every optimizer of `embedgrad-train` on the tutorial's perceptron, from the seed's data and
//! initial weights.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use embedgrad_data::seed;
use embedgrad_ops::prelude::*;
use embedgrad_train::{evaluate, minimize, Adam, Feeds, GradientDescent, Momentum, Optimizer};

/// Trains the perceptron seed example (full batch, its specified init) with an optimizer;
/// returns the loss after the last update and the points classified correctly.
fn train_perceptron(opt: &mut impl Optimizer<f64>, steps: usize) -> (f64, usize) {
    let ex = seed::Example::Perceptron;
    let (mut xs, mut cs, mut labels) = ([0.0f64; 200], [0.0f64; 200], [0u8; 100]);
    let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
    let mut g: Box<StdGraph<f64, 16, 4096>> = Box::new(StdGraph::new());
    let net = seed::build::<f64, _, 16, 4096, 100>(ex, &mut g, &mut rng).unwrap();
    g.feed_slice(net.x.id(), &xs).unwrap();
    g.feed_slice(net.c.id(), &cs).unwrap();
    for _ in 0..steps {
        minimize(opt, &mut g, net.loss).unwrap();
    }
    let feeds = Feeds {
        x: net.x.id(),
        y: net.c.id(),
        loss: net.loss.id(),
    };
    evaluate(&mut g, feeds, net.p.id(), &xs, &cs, &labels).unwrap()
}

#[test]
fn every_optimizer_separates_the_perceptron_blobs() {
    // A convex problem (softmax regression on two separable blobs): from the seed's init,
    // every optimizer must classify all 100 points and bring the loss (69.3 at chance)
    // far down within the seed's 100 steps. Momentum uses η/10: the same effective step.
    let runs: [(&str, (f64, usize)); 4] = [
        (
            "gradient descent",
            train_perceptron(&mut GradientDescent::new(0.01), 100),
        ),
        (
            "momentum",
            train_perceptron(&mut Momentum::<f64, 6>::new(0.001, 0.9), 100),
        ),
        (
            "Nesterov",
            train_perceptron(&mut Momentum::<f64, 6>::nesterov(0.001, 0.9), 100),
        ),
        ("Adam", train_perceptron(&mut Adam::<f64, 6>::new(0.1), 100)),
    ];
    for (name, (loss, correct)) in runs {
        std::println!("perceptron, 100 steps, {name}: loss {loss:.4}, {correct}/100");
        assert!(loss < 5.0 && correct == 100, "{name}: {loss}, {correct}");
    }
}
