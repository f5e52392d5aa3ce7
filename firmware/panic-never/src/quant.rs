//! Drives `embedgrad_train::quant`: quantization of dense networks ([`QuantMlp`]) and of
//! sequential ones with every stage kind ([`QuantNet`]: conv1d, depthwise conv1d, max, average
//! and global average pooling, relu, sigmoid, tanh, dense), inference and the writers, with
//! sizes the optimizer cannot see. The readers (`from_safetensors`) parse the header with
//! serde-json-core, which this gate cannot link (see `train.rs`).

use core::hint::black_box;
use embedgrad_core::Error;
use embedgrad_ops::conv1d::Padding;
use embedgrad_train::quant::{
    self, argmax_code, FloatLayer, FloatStage, Kind, QParams, QuantMlp, QuantNet, QuantStorage,
};

/// Values of a calibration row: `i` and `j` give a deterministic pattern.
fn row(i: usize, x: &mut [f64]) {
    for (j, v) in x.iter_mut().enumerate() {
        *v = (((i * 7 + j * 3) % 11) as f64 - 5.0) / 4.0;
    }
}

/// Weights of a pattern the optimizer cannot see.
fn fill(w: &mut [f32], seed: usize) {
    for (j, v) in w.iter_mut().enumerate() {
        *v = (((black_box(seed) + j * 5) % 13) as f32 - 6.0) / 8.0;
    }
}

fn mlp() -> Result<bool, Error> {
    let (mut w1, mut b1, mut w2, mut b2) = ([0.0f32; 12], [0.0f32; 3], [0.0f32; 6], [0.0f32; 2]);
    fill(&mut w1, 1);
    fill(&mut b1, 2);
    fill(&mut w2, 3);
    fill(&mut b2, 4);
    let layers = [
        FloatLayer {
            weight: &w1[..],
            bias: &b1[..],
            inputs: black_box(4),
            outputs: 3,
            relu: black_box(true),
        },
        FloatLayer {
            weight: &w2[..],
            bias: &b2[..],
            inputs: 3,
            outputs: black_box(2),
            relu: false,
        },
    ];
    let (mut weights, mut words, mut scratch) = ([0i8; 18], [0i32; 15], [0.0f64; 8]);
    let q = quant::quantize(
        &layers,
        black_box(5),
        row,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )?;
    let (mut buf, mut out) = ([0i8; 12], [0i8; 2]);
    let class = q.classify(&[black_box(0.5), -1.0, 0.25, 1.0], &mut buf, &mut out)?;
    let mut file = [0u8; 1024];
    let mut n = 0;
    let written = q
        .write([0, 2], |b| match file.get_mut(n..n + b.len()) {
            Some(d) => {
                d.iter_mut().zip(b).for_each(|(d, b)| *d = *b);
                n += b.len();
                true
            }
            None => false,
        })
        .map_err(|e| e.into_error())?;
    let bad = q.infer(&[0; 3], &mut buf, &mut out).is_err();
    Ok(class < 2 && written == n && bad && q == QuantMlp { layers: q.layers })
}

fn net() -> Result<bool, Error> {
    let t = black_box(12);
    let kinds = [
        Kind::Conv1d {
            t,
            cin: 2,
            cout: 4,
            k: black_box(3),
            stride: 1,
            dilation: 1,
            padding: black_box(Padding::Same),
        },
        Kind::MaxPool {
            t,
            c: 4,
            window: black_box(2),
            stride: 2,
        },
        Kind::Depthwise {
            t: 6,
            c: 4,
            k: 3,
            stride: black_box(1),
            dilation: 2,
            padding: Padding::Same,
        },
        Kind::AvgPool {
            t: 6,
            c: 4,
            window: 2,
            stride: black_box(1),
        },
        Kind::Relu { width: 20 },
        Kind::GlobalAvg {
            t: 5,
            c: black_box(4),
        },
        Kind::Dense {
            inputs: 4,
            outputs: 3,
        },
        Kind::Sigmoid { width: 3 },
        Kind::Tanh {
            width: black_box(3),
        },
    ];
    let (mut w0, mut b0, mut w2, mut b2, mut w6, mut b6) = (
        [0.0f32; 24],
        [0.0f32; 4],
        [0.0f32; 12],
        [0.0f32; 4],
        [0.0f32; 12],
        [0.0f32; 3],
    );
    fill(&mut w0, 5);
    fill(&mut b0, 6);
    fill(&mut w2, 7);
    fill(&mut b2, 8);
    fill(&mut w6, 9);
    fill(&mut b6, 10);
    let none: &[f32] = &[];
    let s = |kind, weight, bias, relu| FloatStage {
        kind,
        weight,
        bias,
        relu,
    };
    let [k0, k1, k2, k3, k4, k5, k6, k7, k8] = kinds;
    let stages = [
        s(k0, &w0[..], &b0[..], true),
        s(k1, none, none, false),
        s(k2, &w2[..], &b2[..], black_box(true)),
        s(k3, none, none, false),
        s(k4, none, none, false),
        s(k5, none, none, false),
        s(k6, &w6[..], &b6[..], false),
        s(k7, none, none, false),
        s(k8, none, none, false),
    ];
    let (nw, nv, ns) = quant::storage_sizes(&stages);
    let (mut weights, mut words, mut scratch) = ([0i8; 560], [0i32; 33], [0.0f64; 96]);
    let q = quant::quantize_net(
        &stages,
        black_box(6),
        row,
        black_box(None),
        scratch.get_mut(..ns).unwrap_or(&mut []),
        QuantStorage {
            weights: weights.get_mut(..nw).unwrap_or(&mut []),
            words: words.get_mut(..nv).unwrap_or(&mut []),
        },
    )?;
    let (mut buf, mut out) = ([0i8; 120], [0i8; 3]);
    let mut x = [0.0f32; 24];
    fill(&mut x, 11);
    let class = q.classify(&x, &mut buf, &mut out)?;
    let codes = [black_box(3i8); 24];
    q.infer(&codes, buf.get_mut(..96).unwrap_or(&mut []), &mut out)?;
    let best = argmax_code(&out);
    let mut file = [0u8; 4096];
    let mut n = 0;
    let written = q
        .write([0, 1, 2, 3, 4, 5, 6, 7, 8], |b| {
            match file.get_mut(n..n + b.len()) {
                Some(d) => {
                    d.iter_mut().zip(b).for_each(|(d, b)| *d = *b);
                    n += b.len();
                    true
                }
                None => false,
            }
        })
        .map_err(|e| e.into_error())?;
    let fixed = QParams {
        scale: black_box(0.25),
        zero_point: 0,
    };
    let q2 = quant::quantize_net(
        &stages,
        2,
        row,
        Some(fixed),
        scratch.get_mut(..ns).unwrap_or(&mut []),
        QuantStorage {
            weights: weights.get_mut(..nw).unwrap_or(&mut []),
            words: words.get_mut(..nv).unwrap_or(&mut []),
        },
    )?;
    let bad = q2
        .infer(codes.get(..23).unwrap_or(&[]), &mut buf, &mut out)
        .is_err();
    Ok(class < 3
        && best < 3
        && written == n
        && bad
        && q2.input() == fixed
        && q2.stages.len() == 9
        && QuantNet { stages: q2.stages }.max_width() == 48)
}

/// Runs all of the above.
pub fn drive() -> Result<bool, Error> {
    Ok(mlp()? && net()?)
}
