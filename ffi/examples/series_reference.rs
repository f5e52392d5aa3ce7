//! The Rust results that `tests/time_series.c` checks the C API against: a small 1-D CNN
//! (conv1d, relu, max pooling, depthwise conv1d, average pooling, global average pooling, a
//! dense layer, sparse softmax cross-entropy) and a small GRU model (reshape, gru, last step,
//! a column slice, mse), built here with `embedgrad-ops`' typed builders, their forward values
//! and one gradient-descent step (learning rate 0.1). Prints a C header:
//!
//! ```text
//! cargo run -q --release -p embedgrad-ffi --example series_reference > series_reference.h
//! ```
//!
//! The inputs and initial weights are the patterns `tests/time_series.c` uses (exact in f32).

use embedgrad_core::{Error, Tensor};
use embedgrad_ops::avg_pool1d::AvgPool1dExt;
use embedgrad_ops::conv1d::Conv1dSpec;
use embedgrad_ops::depthwise_conv1d::DepthwiseConv1dSpec;
use embedgrad_ops::gru::GruSpec;
use embedgrad_ops::max_pool1d::Pool1dSpec;
use embedgrad_ops::prelude::*;
use embedgrad_train::{minimize, GradientDescent};

/// `((i·a + b) mod m − c) / d`, the patterns of the C test.
fn pattern(n: usize, a: usize, b: usize, m: usize, c: f32, d: f32) -> Vec<f32> {
    (0..n).map(|i| (((i * a + b) % m) as f32 - c) / d).collect()
}

fn array(name: &str, v: &[f32]) {
    let items: Vec<String> = v.iter().map(|x| format!("{x:e}f")).collect();
    println!(
        "static const float {name}[{}] = {{{}}};",
        v.len(),
        items.join(", ")
    );
}

fn cnn() -> Result<(), Error> {
    type Conv = Conv1dSpec<6, 2, 3, 3, 1, 1, true>;
    type Pool = Pool1dSpec<6, 3, 2>;
    type Depth = DepthwiseConv1dSpec<3, 3, 2, 1, 1, true>;
    type Avg = Pool1dSpec<3, 3, 2, 1>;
    let mut g: Box<StdGraph<f32, 32, 1024>> = Box::new(StdGraph::new());
    let x = g.placeholder::<2, 12>()?;
    let y = g.placeholder::<2, 1>()?;
    let w1 = g.variable_dyn(
        embedgrad_core::Shape::new(6, 3),
        &pattern(18, 5, 3, 13, 6.0, 8.0),
    )?;
    let w1: Tensor<6, 3> = Tensor::from_id(w1);
    let b1: Tensor<1, 3> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(1, 3),
        &pattern(3, 3, 1, 5, 2.0, 8.0),
    )?);
    let wd: Tensor<2, 3> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(2, 3),
        &pattern(6, 7, 2, 9, 4.0, 4.0),
    )?);
    let bd: Tensor<1, 3> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(1, 3),
        &pattern(3, 1, 0, 3, 1.0, 8.0),
    )?);
    let w2: Tensor<3, 2> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(3, 2),
        &pattern(6, 5, 1, 7, 3.0, 4.0),
    )?);
    let b2: Tensor<1, 2> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(1, 2),
        &pattern(2, 1, 1, 3, 1.0, 8.0),
    )?);
    let h: Tensor<2, { Conv::OUT_COLS }> = g.conv1d(x, w1, b1, Conv::new())?;
    let h = g.relu(h)?;
    let h: Tensor<2, { Pool::OUT_COLS }> = g.max_pool1d(h, Pool::new())?;
    let h: Tensor<2, { Depth::OUT_COLS }> = g.depthwise_conv1d(h, wd, bd, Depth::new())?;
    let h: Tensor<2, { Avg::OUT_COLS }> = g.avg_pool1d(h, Avg::new())?;
    let h: Tensor<2, 3> = g.global_avg_pool1d(h)?;
    let o = g.matmul(h, w2)?;
    let logits = g.add(o, b2)?;
    let loss = g.sparse_softmax_cross_entropy(logits, y)?;
    g.feed_slice(x.id(), &pattern(24, 7, 0, 11, 5.0, 4.0))?;
    g.feed_slice(y.id(), &[1.0, 0.0])?;
    g.run(logits.id())?;
    array("CNN_LOGITS", g.value_slice(logits.id())?);
    let mut opt = GradientDescent::new(0.1f32);
    let before = minimize(&mut opt, &mut g, loss)?;
    array("CNN_LOSS_BEFORE", &[before]);
    for (name, v) in [
        ("CNN_W1", w1.id()),
        ("CNN_B1", b1.id()),
        ("CNN_WD", wd.id()),
        ("CNN_BD", bd.id()),
        ("CNN_W2", w2.id()),
        ("CNN_B2", b2.id()),
    ] {
        array(name, g.value_slice(v)?);
    }
    g.run(loss.id())?;
    array("CNN_LOSS_AFTER", g.value_slice(loss.id())?);
    Ok(())
}

fn gru() -> Result<(), Error> {
    type Layer = GruSpec<4, 2, 3>;
    let mut g: Box<StdGraph<f32, 32, 1024>> = Box::new(StdGraph::new());
    let x = g.placeholder::<4, 4>()?;
    let t = g.placeholder::<2, 3>()?;
    let w: Tensor<5, 9> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(5, 9),
        &pattern(45, 7, 3, 17, 8.0, 16.0),
    )?);
    let b: Tensor<2, 9> = Tensor::from_id(g.variable_dyn(
        embedgrad_core::Shape::new(2, 9),
        &pattern(18, 5, 2, 7, 3.0, 16.0),
    )?);
    let xr: Tensor<2, 8> = g.reshape(x)?;
    let hs: Tensor<2, 12> = g.gru(xr, w, b, Layer::new())?;
    let last: Tensor<2, 3> = g.last_step(hs)?;
    let first: Tensor<2, 3> = g.slice_cols::<2, 12, 3>(hs, 0)?;
    let out = g.add(last, first)?;
    let loss = g.mse(out, t)?;
    g.feed_slice(x.id(), &pattern(16, 7, 0, 11, 5.0, 4.0))?;
    g.feed_slice(t.id(), &pattern(6, 3, 0, 7, 3.0, 4.0))?;
    g.run(out.id())?;
    array("GRU_OUT", g.value_slice(out.id())?);
    let mut opt = GradientDescent::new(0.1f32);
    let before = minimize(&mut opt, &mut g, loss)?;
    array("GRU_LOSS_BEFORE", &[before]);
    array("GRU_W", g.value_slice(w.id())?);
    array("GRU_B", g.value_slice(b.id())?);
    g.run(loss.id())?;
    array("GRU_LOSS_AFTER", g.value_slice(loss.id())?);
    Ok(())
}

fn main() -> Result<(), Error> {
    println!("/* Generated by `cargo run -p embedgrad-ffi --example series_reference`. */");
    cnn()?;
    gru()
}
