//! # embedgrad-train
//!
//! Training on the device: optimizers whose state is fixed arrays (gradient descent,
//! [`Momentum`], [`Adam`]) with learning-rate [`Schedule`]s and gradient clipping
//! ([`clip_grad_norm`]), the minimise step (forward, backprop, update — refusing non-finite
//! losses), gradient accumulation over micro-batches, the bit-exact SplitMix64 generator and
//! the [`init`]ialisers drawn from it, [`data`] sets that live in flash with mini-batches and
//! shuffling, losses, metrics, [`checkpoint`]s, online learning from a live [`source`] (an
//! `embedded-hal` sensor) and the tutorial's seed examples.
//!
//! ```
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::seed::{self, Example};
//!
//! // The tutorial's perceptron, full batch, exactly as in SEED-EXAMPLES.md.
//! let ex = Example::Perceptron;
//! let (mut xs, mut cs, mut labels) = ([0.0f32; 200], [0.0f32; 200], [0u8; 100]);
//! let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels)?;
//! // 12 nodes and 2,616 scalars: exactly what this net needs for 100 points (10.5 KB in f32).
//! let mut g: Box<StdGraph<f32, 12, 2616>> = Box::new(StdGraph::new());
//! let out = seed::train::<_, _, 12, 2616, 100>(ex, &mut g, &mut rng, &xs, &cs, &labels, |_, _| {})?;
//! assert_eq!(out.accuracy(), 1.0);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod checkpoint;
pub mod data;
pub mod init;
pub mod layers;
pub mod loss;
mod optim;
pub mod quant;
mod rng;
pub mod safetensors;
mod schedule;
pub mod seed;
pub mod source;

pub use optim::{
    accumulate, accumulate_with, adam_step, argmax, clip_grad_norm, evaluate, grad_norm,
    gradients_finite, minimize, minimize_clipped, momentum_step, step_accumulated,
    step_accumulated_with, Adam, Feeds, GradientDescent, LearningRate, Momentum, Optimizer,
};
pub use rng::{fnv1a, SplitMix64, FNV_OFFSET};
pub use schedule::Schedule;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
