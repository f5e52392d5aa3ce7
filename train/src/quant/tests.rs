use super::*;
use crate::safetensors::{self, Dims, Dtype, Problem, RawTensor, SafeTensors};
use crate::SplitMix64;
use embedgrad_core::Error;
use std::vec::Vec;

#[test]
fn multipliers_are_accurate_to_2_to_the_minus_30() {
    let mut rng = SplitMix64::new(1);
    for _ in 0..10_000 {
        let m = libm::exp(-rng.uniform() * 20.0) * 0.999; // down to 2·10⁻⁹
        let (m0, shift) = multiplier(m).unwrap();
        assert!((1 << 30..=i32::MAX).contains(&m0), "{m} {m0}");
        let back = f64::from(m0) / libm::pow(2.0, f64::from(shift));
        assert!(((back - m) / m).abs() < 1e-9, "{m} {back}");
    }
    // Out of range, or too small for a shift of at most 62 (below 2^−32).
    for bad in [0.0, -0.5, 1.0, 2.0, f64::NAN, 1e-10] {
        assert_eq!(multiplier(bad), None, "{bad}");
    }
}

#[test]
fn requantization_rounds_like_the_real_product() {
    let mut rng = SplitMix64::new(2);
    for _ in 0..10_000 {
        let m = libm::exp(-rng.uniform() * 12.0) * 0.9;
        let (m0, shift) = multiplier(m).unwrap();
        let acc = (rng.uniform() * 2e6 - 1e6) as i32;
        let zero = (rng.uniform() * 255.0 - 128.0) as i8;
        let want = (libm::floor(f64::from(acc) * m + 0.5) + f64::from(zero)).clamp(-128.0, 127.0);
        let got = requantize(acc, m0, shift, zero, false);
        assert!(
            (f64::from(got) - want).abs() <= 1.0,
            "{acc} {m} {got} {want}"
        );
        let relu = requantize(acc, m0, shift, zero, true);
        assert_eq!(relu, got.max(zero));
    }
}

#[test]
fn qparams_cover_the_range_and_zero_exactly() {
    for (lo, hi) in [
        (-1.0, 1.0),
        (0.0, 6.0),
        (-3.0, -1.0),
        (2.0, 5.0),
        (0.0, 0.0),
    ] {
        let q = QParams::from_range(lo, hi);
        assert_eq!(q.dequantize(q.zero_point), 0.0, "{lo} {hi}");
        assert_eq!(q.quantize(0.0), q.zero_point);
        let (a, b) = (f64::min(lo, 0.0), f64::max(hi, 0.0));
        for x in [a, b, (a + b) / 2.0] {
            let back = f64::from(q.dequantize(q.quantize(x as f32)));
            assert!(
                (back - x).abs() <= f64::from(q.scale) * 0.5 + 1e-6,
                "{lo} {hi} {x} {back}"
            );
        }
    }
}

/// A random float network and its calibration rows.
struct Net {
    w: [Vec<f32>; 2],
    b: [Vec<f32>; 2],
    rows: Vec<[f32; 6]>,
}

fn net() -> Net {
    let mut rng = SplitMix64::new(3);
    let mut v = |n: usize, s: f64| {
        (0..n)
            .map(|_| (rng.normal() * s) as f32)
            .collect::<Vec<_>>()
    };
    let w = [v(6 * 8, 0.5), v(8 * 3, 0.5)];
    let b = [v(8, 0.1), v(3, 0.1)];
    let mut rng = SplitMix64::new(4);
    let rows = (0..64)
        .map(|_| core::array::from_fn(|_| (rng.uniform() * 2.0 - 1.0) as f32))
        .collect();
    Net { w, b, rows }
}

fn float_forward(n: &Net, x: &[f32; 6]) -> [f64; 3] {
    let mut h = [0.0f64; 8];
    for (j, hj) in h.iter_mut().enumerate() {
        let mut s = f64::from(n.b[0][j]);
        for (i, &xi) in x.iter().enumerate() {
            s += f64::from(xi) * f64::from(n.w[0][i * 8 + j]);
        }
        *hj = s.max(0.0);
    }
    core::array::from_fn(|o| {
        let mut s = f64::from(n.b[1][o]);
        for (i, &hi) in h.iter().enumerate() {
            s += hi * f64::from(n.w[1][i * 3 + o]);
        }
        s
    })
}

#[test]
// The file is read back through in-place int32 views, which exist on little-endian targets
// only (every Cortex-M and RISC-V one); Miri runs these tests on a big-endian one too.
#[cfg_attr(target_endian = "big", ignore)]
fn the_int8_network_follows_the_float_one_and_round_trips_through_a_file() {
    let n = net();
    let layers = [
        FloatLayer {
            weight: &n.w[0][..],
            bias: &n.b[0][..],
            inputs: 6,
            outputs: 8,
            relu: true,
        },
        FloatLayer {
            weight: &n.w[1][..],
            bias: &n.b[1][..],
            inputs: 8,
            outputs: 3,
            relu: false,
        },
    ];
    let (mut weights, mut words) = (vec![0i8; 6 * 8 + 8 * 3], vec![0i32; 3 * 11]);
    let mut scratch = [0.0f64; 16];
    let q = quantize(
        &layers,
        n.rows.len(),
        |i, x| {
            for (d, s) in x.iter_mut().zip(&n.rows[i]) {
                *d = f64::from(*s);
            }
        },
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )
    .unwrap();
    let out_q = q.output();
    let mut buf = [0i8; 22];
    let mut worst = 0.0f64;
    let mut same_class = 0;
    for row in &n.rows {
        let mut out = [0i8; 3];
        let c = q.classify(row, &mut buf, &mut out).unwrap();
        let want = float_forward(&n, row);
        for (o, w) in out.iter().zip(&want) {
            worst = worst.max((f64::from(out_q.dequantize(*o)) - w).abs());
        }
        let fc = (0..3).fold(0, |b, i| if want[i] > want[b] { i } else { b });
        same_class += usize::from(c == fc);
    }
    // Within a few output steps of the float network, and the same class almost always.
    assert!(
        worst < 6.0 * f64::from(out_q.scale),
        "{worst} vs step {}",
        out_q.scale
    );
    assert!(same_class >= 60, "{same_class}/64");

    // Out to a file and back, viewed in place: the same codes.
    let mut file = Vec::new();
    let len = q
        .write([0, 2], |b| {
            file.extend_from_slice(b);
            true
        })
        .unwrap();
    assert_eq!(len, file.len());
    let mut aligned = vec![0u64; file.len().div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    bytes[..file.len()].copy_from_slice(&file);
    let st: SafeTensors<'_, 16> = SafeTensors::parse(&bytes[..file.len()]).unwrap();
    assert_eq!(
        st.get("0.weight")
            .map(|t| (t.dtype, t.dims.as_slice().to_vec())),
        Some((Dtype::I8, vec![8, 6]))
    );
    let back = QuantMlp::<2>::from_safetensors(&st, [0, 2]).unwrap();
    assert_eq!(back, q);
    // A missing tensor, a wrong dtype.
    let e = QuantMlp::<2>::from_safetensors(&st, [0, 4]).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::Missing, "4.weight")
    );
    let float_file = {
        let mut out = Vec::new();
        safetensors::write_raw(
            &[RawTensor {
                name: "0.weight",
                dtype: Dtype::F32,
                dims: Dims::new(&[8, 6]),
                bytes: &[0; 192],
            }],
            &[],
            |b| {
                out.extend_from_slice(b);
                true
            },
        )
        .unwrap();
        out
    };
    let st: SafeTensors<'_, 16> = SafeTensors::parse(&float_file).unwrap();
    let e = QuantMlp::<1>::from_safetensors(&st, [0]).unwrap_err();
    assert!(matches!(e.problem, Problem::WrongShape { .. }), "{e}");
}

#[test]
fn bad_inputs_are_refused() {
    let n = net();
    let layers = [
        FloatLayer {
            weight: &n.w[0][..],
            bias: &n.b[0][..],
            inputs: 6,
            outputs: 8,
            relu: true,
        },
        FloatLayer {
            weight: &n.w[1][..],
            bias: &n.b[1][..],
            inputs: 8,
            outputs: 3,
            relu: false,
        },
    ];
    let row = |_: usize, x: &mut [f64]| x.fill(0.5);
    let (mut weights, mut words) = (vec![0i8; 72], vec![0i32; 33]);
    let mut scratch = [0.0f64; 16];
    // Wrong storage and scratch sizes; no rows.
    assert!(matches!(
        quantize(
            &layers,
            4,
            row,
            &mut scratch,
            QuantStorage {
                weights: &mut weights[..71],
                words: &mut words
            }
        ),
        Err(Error::LengthMismatch {
            expected: 72,
            found: 71
        })
    ));
    assert!(matches!(
        quantize(
            &layers,
            4,
            row,
            &mut scratch[..15],
            QuantStorage {
                weights: &mut weights,
                words: &mut words
            }
        ),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(
        quantize(
            &layers,
            0,
            row,
            &mut scratch,
            QuantStorage {
                weights: &mut weights,
                words: &mut words
            }
        )
        .err(),
        Some(Error::InvalidArgument)
    );
    // Layers that do not chain.
    let bad = [
        layers[0],
        FloatLayer {
            inputs: 7,
            ..layers[1]
        },
    ];
    assert!(quantize(
        &bad,
        4,
        row,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words
        }
    )
    .is_err());
    // Inference with the wrong sizes.
    let q = quantize(
        &layers,
        4,
        row,
        &mut scratch,
        QuantStorage {
            weights: &mut weights,
            words: &mut words,
        },
    )
    .unwrap();
    let mut buf = [0i8; 22];
    assert!(matches!(
        q.infer(&[0; 5], &mut buf, &mut [0; 3]),
        Err(Error::LengthMismatch {
            expected: 6,
            found: 5
        })
    ));
    assert!(matches!(
        q.infer(&[0; 6], &mut buf, &mut [0; 2]),
        Err(Error::LengthMismatch {
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        q.infer(&[0; 6], &mut buf[..15], &mut [0; 3]),
        Err(Error::LengthMismatch { .. })
    ));
}
