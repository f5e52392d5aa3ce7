//! # embedgrad-train
//!
//! Training on the device: optimizers whose state is fixed arrays (gradient descent,
//! [`Momentum`], [`Adam`]) with learning-rate [`Schedule`]s and gradient clipping
//! ([`clip_grad_norm`]), the minimise step (forward, backprop, update — refusing non-finite
//! losses), gradient accumulation over micro-batches, the bit-exact SplitMix64 generator and
//! the [`init`]ialisers drawn from it, [`data`] sets that live in flash with mini-batches and
//! shuffling, losses, metrics, [`checkpoint`]s and online learning from a live [`source`] of
//! samples. The tutorial's seed examples live with the other examples that the simulator,
//! the firmware and the tests share, in `embedgrad-data` (`embedgrad_data::seed`).
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::{Adam, Optimizer};
//!
//! // Fit y = 2x − 1 through four points: a 1×1 weight and a bias, mean squared error, Adam.
//! let mut g: StdGraph<f32, 8, 64> = StdGraph::new();
//! let x = g.constant(&Matrix::new([[0.0f32], [1.0], [2.0], [3.0]]))?;
//! let y = g.constant(&Matrix::new([[-1.0f32], [1.0], [3.0], [5.0]]))?;
//! let w = g.variable(&Matrix::new([[0.0f32]]))?;
//! let b = g.variable(&Matrix::new([[0.0f32]]))?;
//! let xw = g.matmul(x, w)?;
//! let pred = g.add(xw, b)?;
//! let loss = g.mse(pred, y)?;
//! let mut opt: Adam<f32, 2> = Adam::new(0.1);
//! for _ in 0..500 {
//!     opt.minimize(&mut g, loss)?;
//! }
//! assert!((g.value(w)?.data[0][0] - 2.0).abs() < 0.05);
//! assert!((g.value(b)?.data[0][0] + 1.0).abs() < 0.05);
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
pub mod source;

pub use optim::{
    accumulate, accumulate_with, adam_step, argmax, check_gradients, clip_grad_norm, evaluate,
    grad_norm, gradients_finite, minimize, minimize_clipped, momentum_step, step_accumulated,
    step_accumulated_with, Adam, Feeds, GradientDescent, LearningRate, Momentum, Optimizer,
};
pub use rng::{fnv1a, SplitMix64, FNV_OFFSET};
pub use schedule::Schedule;

/// The README's code blocks, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
