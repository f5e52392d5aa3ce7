//! Each int8 kernel against a plain f64 evaluation of the same quantized arithmetic, and a
//! small network through quantization, inference and a file.

use super::calibrate::float_run;
use super::*;
use crate::quant::{multiplier, QuantStorage};
use crate::safetensors::{Dtype, Problem, SafeTensors};
use crate::SplitMix64;
use embedgrad_ops::conv1d::{conv1d_out_len, conv1d_pad_left};
use std::vec::Vec;

/// `z + round(acc · m0 / 2^shift)` in f64 (exact for the small accumulators here), relu at
/// `z`, saturated: the arithmetic the kernels claim, written out.
fn requant_ref(acc: i64, m0: i32, shift: i32, z: i8, relu: bool) -> i8 {
    let real = acc as f64 * f64::from(m0) / libm::pow(2.0, f64::from(shift));
    let mut y = libm::floor(real + 0.5) + f64::from(z);
    if relu {
        y = y.max(f64::from(z));
    }
    y.clamp(-128.0, 127.0) as i8
}

fn codes(rng: &mut SplitMix64, n: usize) -> Vec<i8> {
    (0..n)
        .map(|_| (rng.uniform() * 256.0 - 128.0) as i8)
        .collect()
}

fn params(rng: &mut SplitMix64) -> QParams {
    QParams {
        scale: (0.01 + rng.uniform() * 0.1) as f32,
        zero_point: (rng.uniform() * 200.0 - 100.0) as i8,
    }
}

/// A stage of `kind` with random weights, biases and multipliers.
struct Owned {
    kind: Kind,
    relu: bool,
    weight: Vec<i8>,
    bias: Vec<i32>,
    mult: Vec<i32>,
    shift: Vec<i32>,
    input: QParams,
    output: QParams,
}

impl Owned {
    fn new(rng: &mut SplitMix64, kind: Kind, relu: bool) -> Self {
        let n = kind.channels();
        let input = params(rng);
        let output = if kind.keeps_quantization() {
            input
        } else {
            params(rng)
        };
        let mut w = codes(rng, kind.weights());
        w.iter_mut().for_each(|v| *v = (*v).max(-127));
        let (mut mult, mut shift) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (m, s) = multiplier(libm::exp(-3.0 - rng.uniform() * 6.0)).unwrap();
            mult.push(m);
            shift.push(s);
        }
        Owned {
            kind,
            relu,
            weight: w,
            bias: (0..n)
                .map(|_| (rng.uniform() * 4000.0 - 2000.0) as i32)
                .collect(),
            mult,
            shift,
            input,
            output,
        }
    }

    fn stage(&self) -> QuantStage<'_> {
        QuantStage {
            kind: self.kind,
            relu: self.relu,
            weight: &self.weight,
            bias: &self.bias,
            multiplier: &self.mult,
            shift: &self.shift,
            input: self.input,
            output: self.output,
        }
    }

    fn run(&self, x: &[i8]) -> Vec<i8> {
        let s = self.stage();
        assert!(s.consistent(), "{:?}", self.kind);
        let mut out = vec![0i8; self.kind.out_len()];
        s.run(x, &mut out);
        out
    }
}

/// The input step of tap `k` of output step `o`, as the op's documentation writes it:
/// `o·S + k·D − P`, `None` outside `0..T`.
fn step(o: usize, k: usize, s: usize, d: usize, p: usize, t: usize) -> Option<usize> {
    let i = (o * s + k * d) as i64 - p as i64;
    (0..t as i64).contains(&i).then_some(i as usize)
}

#[test]
fn conv1d_and_dense_kernels_are_the_quantized_arithmetic() {
    let mut rng = SplitMix64::new(11);
    for case in 0..60 {
        let (t, cin, cout, k) = (1 + case % 9, 1 + case % 4, 1 + case % 5, 1 + case % 3);
        let (stride, dilation) = (1 + case % 2, 1 + (case / 2) % 2);
        let padding = if case % 3 == 0 {
            Padding::Valid
        } else {
            Padding::Same
        };
        let kind = if case % 7 == 6 {
            Kind::Dense {
                inputs: t * cin,
                outputs: cout,
            }
        } else {
            Kind::Conv1d {
                t,
                cin,
                cout,
                k,
                stride,
                dilation,
                padding,
            }
        };
        if !kind.valid() {
            continue;
        }
        let l = Owned::new(&mut rng, kind, case % 2 == 0);
        let x = codes(&mut rng, kind.in_len());
        let got = l.run(&x);
        let (t, cin, k, stride, dilation, padding) = match kind {
            Kind::Dense { inputs, .. } => (1, inputs, 1, 1, 1, Padding::Valid),
            _ => (t, cin, k, stride, dilation, padding),
        };
        let tout = conv1d_out_len(t, k, stride, dilation, padding);
        let pad = conv1d_pad_left(t, k, stride, dilation, padding);
        assert_eq!(got.len(), tout * cout);
        let zx = i64::from(l.input.zero_point);
        for o in 0..tout {
            for co in 0..cout {
                let mut acc = i64::from(l.bias[co]);
                for kk in 0..k {
                    let Some(i) = step(o, kk, stride, dilation, pad, t) else {
                        continue;
                    };
                    for ci in 0..cin {
                        let w = i64::from(l.weight[co * k * cin + kk * cin + ci]);
                        acc += (i64::from(x[i * cin + ci]) - zx) * w;
                    }
                }
                let want = requant_ref(acc, l.mult[co], l.shift[co], l.output.zero_point, l.relu);
                assert_eq!(
                    got[o * cout + co],
                    want,
                    "case {case} {kind:?} o {o} co {co}"
                );
            }
        }
    }
}

#[test]
fn depthwise_kernel_is_the_quantized_arithmetic() {
    let mut rng = SplitMix64::new(12);
    for case in 0..40 {
        let (t, c, k) = (2 + case % 8, 1 + case % 4, 1 + case % 4);
        let (stride, dilation) = (1 + case % 2, 1 + (case / 3) % 2);
        let padding = if case % 2 == 0 {
            Padding::Valid
        } else {
            Padding::Same
        };
        let kind = Kind::Depthwise {
            t,
            c,
            k,
            stride,
            dilation,
            padding,
        };
        if !kind.valid() {
            continue;
        }
        let l = Owned::new(&mut rng, kind, case % 3 == 0);
        let x = codes(&mut rng, kind.in_len());
        let got = l.run(&x);
        let tout = conv1d_out_len(t, k, stride, dilation, padding);
        let pad = conv1d_pad_left(t, k, stride, dilation, padding);
        let zx = i64::from(l.input.zero_point);
        for o in 0..tout {
            for ch in 0..c {
                let mut acc = i64::from(l.bias[ch]);
                for kk in 0..k {
                    if let Some(i) = step(o, kk, stride, dilation, pad, t) {
                        acc += (i64::from(x[i * c + ch]) - zx) * i64::from(l.weight[ch * k + kk]);
                    }
                }
                let want = requant_ref(acc, l.mult[ch], l.shift[ch], l.output.zero_point, l.relu);
                assert_eq!(got[o * c + ch], want, "case {case} o {o} ch {ch}");
            }
        }
    }
}

#[test]
fn pooling_relu_and_tables_are_exact_on_the_codes() {
    let mut rng = SplitMix64::new(13);
    for case in 0..40 {
        let (t, c, window, stride) = (3 + case % 9, 1 + case % 3, 1 + case % 3, 1 + (case / 3) % 3);
        let x = codes(&mut rng, t * c);
        let mean = |vals: &[i64], z: i8| -> i8 {
            let s: i64 = vals.iter().map(|v| v - i64::from(z)).sum();
            let m = libm::round(s as f64 / vals.len() as f64); // ties away from zero
            (m + f64::from(z)).clamp(-128.0, 127.0) as i8
        };
        for max in [true, false] {
            let kind = if max {
                Kind::MaxPool {
                    t,
                    c,
                    window,
                    stride,
                }
            } else {
                Kind::AvgPool {
                    t,
                    c,
                    window,
                    stride,
                }
            };
            if !kind.valid() {
                continue;
            }
            let l = Owned::new(&mut rng, kind, false);
            let got = l.run(&x);
            let tout = (t - window) / stride + 1;
            assert_eq!(got.len(), tout * c);
            for o in 0..tout {
                for ch in 0..c {
                    let vals: Vec<i64> = (0..window)
                        .map(|j| i64::from(x[(o * stride + j) * c + ch]))
                        .collect();
                    let want = if max {
                        *vals.iter().max().unwrap() as i8
                    } else {
                        mean(&vals, l.input.zero_point)
                    };
                    assert_eq!(got[o * c + ch], want, "case {case} {kind:?}");
                }
            }
        }
        let l = Owned::new(&mut rng, Kind::GlobalAvg { t, c }, false);
        let got = l.run(&x);
        for ch in 0..c {
            let vals: Vec<i64> = (0..t).map(|s| i64::from(x[s * c + ch])).collect();
            assert_eq!(got[ch], mean(&vals, l.input.zero_point), "case {case}");
        }
        let l = Owned::new(&mut rng, Kind::Relu { width: t * c }, false);
        let got = l.run(&x);
        for (g, &v) in got.iter().zip(&x) {
            assert_eq!(*g, v.max(l.input.zero_point));
        }
    }
    // Tables: the code of f(the input's value), for every input code.
    for (kind, f) in [
        (
            Kind::Sigmoid { width: 256 },
            (|v: f64| 1.0 / (1.0 + libm::exp(-v))) as fn(f64) -> f64,
        ),
        (Kind::Tanh { width: 256 }, libm::tanh as fn(f64) -> f64),
    ] {
        let stages = [FloatStage::<f32> {
            kind,
            weight: &[],
            bias: &[],
            relu: false,
        }];
        let (mut w, mut words, mut scratch) = (vec![0i8; 256], vec![], vec![0.0f64; 512]);
        let q = quantize_net(
            &stages,
            2,
            |i, x| {
                x.iter_mut()
                    .enumerate()
                    .for_each(|(j, v)| *v = (j as f64 / 32.0 - 4.0) * (i as f64 * 2.0 - 1.0))
            },
            None,
            &mut scratch,
            QuantStorage {
                weights: &mut w,
                words: &mut words,
            },
        )
        .unwrap();
        let all: Vec<i8> = (-128i16..=127).map(|v| v as i8).collect();
        let mut out = vec![0i8; 256];
        let mut buf = vec![0i8; 512];
        q.infer(&all, &mut buf, &mut out).unwrap();
        let (i, o) = (q.input(), q.output());
        for (&x, &y) in all.iter().zip(&out) {
            let want = o.quantize(f(f64::from(i.dequantize(x))) as f32);
            assert_eq!(y, want, "{kind:?} {x}");
            // Within half an output step of the function
            let err = (f64::from(o.dequantize(y)) - f(f64::from(i.dequantize(x)))).abs();
            // (tanh saturates at code 127, 127/128.)
            assert!(
                err <= f64::from(o.scale) * 0.5 + 1e-6 || y == 127,
                "{kind:?} {x} {err}"
            );
        }
    }
}

/// A small float CNN: conv (relu) → max pool → depthwise (relu) → avg pool → global average
/// → dense → tanh, with random weights, and its calibration windows (12 steps × 2).
struct Cnn {
    w: [Vec<f32>; 3],
    b: [Vec<f32>; 3],
    rows: Vec<Vec<f64>>,
}

const KINDS: [Kind; 7] = [
    Kind::Conv1d {
        t: 12,
        cin: 2,
        cout: 4,
        k: 3,
        stride: 1,
        dilation: 1,
        padding: Padding::Same,
    },
    Kind::MaxPool {
        t: 12,
        c: 4,
        window: 2,
        stride: 2,
    },
    Kind::Depthwise {
        t: 6,
        c: 4,
        k: 3,
        stride: 1,
        dilation: 2,
        padding: Padding::Same,
    },
    Kind::AvgPool {
        t: 6,
        c: 4,
        window: 2,
        stride: 1,
    },
    Kind::GlobalAvg { t: 5, c: 4 },
    Kind::Dense {
        inputs: 4,
        outputs: 3,
    },
    Kind::Tanh { width: 3 },
];

fn cnn() -> Cnn {
    let mut rng = SplitMix64::new(21);
    let mut v = |n: usize, s: f64| {
        (0..n)
            .map(|_| (rng.normal() * s) as f32)
            .collect::<Vec<_>>()
    };
    let w = [v(3 * 2 * 4, 0.6), v(3 * 4, 0.6), v(4 * 3, 0.8)];
    let b = [v(4, 0.1), v(4, 0.1), v(3, 0.1)];
    let mut rng = SplitMix64::new(22);
    let rows = (0..80)
        .map(|_| (0..24).map(|_| rng.uniform() * 4.0 - 2.0).collect())
        .collect();
    Cnn { w, b, rows }
}

fn float_stages(n: &Cnn) -> [FloatStage<'_, f32>; 7] {
    let none: &[f32] = &[];
    let s = |k: usize, weight, bias, relu| FloatStage {
        kind: KINDS[k],
        weight,
        bias,
        relu,
    };
    [
        s(0, &n.w[0][..], &n.b[0][..], true),
        s(1, none, none, false),
        s(2, &n.w[1][..], &n.b[1][..], true),
        s(3, none, none, false),
        s(4, none, none, false),
        s(5, &n.w[2][..], &n.b[2][..], false),
        s(6, none, none, false),
    ]
}

#[test]
// Read back through in-place int32 views: little-endian targets only (as the dense test).
#[cfg_attr(target_endian = "big", ignore)]
fn a_small_cnn_follows_the_float_one_and_round_trips_through_a_file() {
    let n = cnn();
    let stages = float_stages(&n);
    let (nw, nv, ns) = storage_sizes(&stages);
    assert_eq!((nw, nv), (24 + 12 + 12 + 256, 3 * (4 + 4 + 3)));
    let (mut weights, mut words, mut scratch) = (vec![0i8; nw], vec![0i32; nv], vec![0.0; ns]);
    let q = quantize_net(
        &stages,
        n.rows.len(),
        |i, x| x.copy_from_slice(&n.rows[i]),
        None,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )
    .unwrap();
    // Against the f64 network, through the outputs' steps.
    let out_q = q.output();
    let mut worst = 0.0f64;
    let mut buf = vec![0i8; 24 + 2 * q.max_width()];
    for r in &n.rows {
        let (mut a, mut b) = (r.clone(), vec![0.0f64; 48]);
        for s in &stages {
            b.resize(s.kind.out_len(), 0.0);
            float_run(s, &a, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        let x: Vec<f32> = r.iter().map(|&v| v as f32).collect();
        let mut out = [0i8; 3];
        q.infer_f32(&x, &mut buf, &mut out).unwrap();
        for (o, w) in out.iter().zip(&a) {
            worst = worst.max((f64::from(out_q.dequantize(*o)) - w).abs());
        }
    }
    assert!(worst < 0.1, "{worst}");

    let mut file = Vec::new();
    let index = [0, 1, 2, 3, 4, 5, 6];
    let len = q
        .write(index, |b| {
            file.extend_from_slice(b);
            true
        })
        .unwrap();
    assert_eq!(len, file.len());
    let mut aligned = vec![0u64; file.len().div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    bytes[..file.len()].copy_from_slice(&file);
    let st: SafeTensors<'_, 32> = SafeTensors::parse(&bytes[..file.len()]).unwrap();
    assert_eq!(
        st.get("0.weight")
            .map(|t| (t.dtype, t.dims.as_slice().to_vec())),
        Some((Dtype::I8, vec![4, 3, 2]))
    );
    assert_eq!(
        st.get("2.weight").map(|t| t.dims.as_slice().to_vec()),
        Some(vec![4, 3])
    );
    let back = QuantNet::<7>::from_safetensors(&st, KINDS, index).unwrap();
    assert_eq!(back, q);
    // Another architecture, a missing stage.
    let mut other = KINDS;
    other[2] = Kind::Depthwise {
        t: 6,
        c: 4,
        k: 2,
        stride: 1,
        dilation: 2,
        padding: Padding::Same,
    };
    let e = QuantNet::<7>::from_safetensors(&st, other, index).unwrap_err();
    assert!(matches!(e.problem, Problem::WrongShape { .. }), "{e}");
    let e = QuantNet::<7>::from_safetensors(&st, KINDS, [0, 1, 2, 3, 4, 5, 9]).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::Missing, "9.weight")
    );
}

#[test]
fn bad_networks_and_buffers_are_refused() {
    let n = cnn();
    let stages = float_stages(&n);
    let (nw, nv, ns) = storage_sizes(&stages);
    let row = |i: usize, x: &mut [f64]| x.copy_from_slice(&n.rows[i]);
    let (mut weights, mut words, mut scratch) = (vec![0i8; nw], vec![0i32; nv], vec![0.0; ns]);
    assert!(matches!(
        quantize_net(
            &stages,
            4,
            row,
            None,
            &mut scratch,
            QuantStorage {
                weights: &mut weights[1..],
                words: &mut words
            }
        ),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        quantize_net(
            &stages,
            0,
            row,
            None,
            &mut scratch,
            QuantStorage {
                weights: &mut weights,
                words: &mut words
            }
        )
        .err(),
        Some(Error::InvalidArgument)
    );
    // Stages that do not chain; relu on a pooling; a kind without output.
    let mut bad = stages;
    bad[3].kind = Kind::AvgPool {
        t: 7,
        c: 4,
        window: 2,
        stride: 1,
    };
    assert!(quantize_net(
        &bad,
        4,
        row,
        None,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words
        }
    )
    .is_err());
    let mut bad = stages;
    bad[1].relu = true;
    assert_eq!(
        quantize_net(
            &bad,
            4,
            row,
            None,
            &mut scratch,
            QuantStorage {
                weights: &mut weights,
                words: &mut words
            }
        )
        .err(),
        Some(Error::InvalidArgument)
    );
    assert!(!Kind::MaxPool {
        t: 2,
        c: 1,
        window: 3,
        stride: 1
    }
    .valid());
    // A non-finite weight.
    let mut w0 = n.w[0].clone();
    w0[5] = f32::NAN;
    let mut bad = stages;
    bad[0].weight = &w0;
    assert_eq!(
        quantize_net(
            &bad,
            4,
            row,
            None,
            &mut scratch,
            QuantStorage {
                weights: &mut weights,
                words: &mut words
            }
        )
        .err(),
        Some(Error::InvalidArgument)
    );
    // Inference with the wrong sizes, and a model whose stages do not chain.
    let mut q = quantize_net(
        &stages,
        4,
        row,
        None,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )
    .unwrap();
    let mut buf = vec![0i8; 2 * q.max_width()];
    assert!(matches!(
        q.infer(&[0; 23], &mut buf, &mut [0; 3]),
        Err(Error::LengthMismatch {
            expected: 24,
            found: 23
        })
    ));
    assert!(matches!(
        q.infer(&[0; 24], &mut buf[1..], &mut [0; 3]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(q.infer(&[0; 24], &mut buf, &mut [0; 3]).is_ok());
    q.stages[3].output.zero_point = q.stages[3].output.zero_point.wrapping_add(1);
    assert_eq!(
        q.infer(&[0; 24], &mut buf, &mut [0; 3]),
        Err(Error::InvalidArgument)
    );
    // A fixed input quantization is kept (and must have a positive scale).
    let raw = QParams {
        scale: 1.0 / 16.0,
        zero_point: -3,
    };
    let q = quantize_net(
        &stages,
        4,
        row,
        Some(raw),
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )
    .unwrap();
    assert_eq!((q.input(), q.stages[0].input), (raw, raw));
    let bad = QParams { scale: 0.0, ..raw };
    assert_eq!(
        quantize_net(
            &stages,
            4,
            row,
            Some(bad),
            &mut scratch,
            QuantStorage {
                weights: &mut weights,
                words: &mut words,
            },
        )
        .err(),
        Some(Error::InvalidArgument)
    );
}
