use super::*;
use crate::checkpoint::sim::SimFlash;
use crate::layers::{Activation, DenseSpec, Loss, Mlp, Model};
use crate::SplitMix64;
use embedgrad_ops::StdGraph;
use std::vec::Vec;

type G32 = StdGraph<f32, 32, 2048>;
type G64 = StdGraph<f64, 32, 2048>;

/// `nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))`.
const NET: Mlp<2> = Mlp::new(
    2,
    [
        DenseSpec::new(3, Activation::Relu),
        DenseSpec::new(1, Activation::Identity),
    ],
);

fn model32(seed: u64) -> (Box<G32>, Model<1, 2, 1, 2>) {
    let mut g: Box<G32> = Box::new(StdGraph::new());
    let m = NET
        .build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(seed))
        .unwrap();
    (g, m)
}

fn weights<T: Scalar, const N: usize, const S: usize>(g: &mut StdGraph<T, N, S>) -> Vec<f64> {
    let mut out = Vec::new();
    g.for_each_variable::<Error>(|v| {
        out.extend(v.value.iter().map(|x| x.to_f64()));
        Ok(())
    })
    .unwrap();
    out
}

/// A file from a header and its data, the header padded to a multiple of 8 as PyTorch does.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut f = (h.len() as u64).to_le_bytes().to_vec();
    f.extend(h);
    f.extend(data);
    f
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The state dict PyTorch writes for [`NET`] (names, `OUT × IN` weights, vector biases), by
/// hand: weight1 = [[1, 2], [3, 4], [5, 6]], bias1 = [0.5, -0.5, 0], weight2 = [[1, -1, 2]],
/// bias2 = [0.25].
fn torch_file() -> Vec<u8> {
    let header = r#"{"__metadata__":{"format":"pt"},"0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},"0.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]},"2.weight":{"dtype":"F32","shape":[1,3],"data_offsets":[36,48]},"2.bias":{"dtype":"F32","shape":[1],"data_offsets":[48,52]}}"#;
    let data = f32s(&[1., 2., 3., 4., 5., 6., 0.5, -0.5, 0., 1., -1., 2., 0.25]);
    file(header, &data)
}

#[test]
fn a_pytorch_state_dict_loads_transposed_into_the_graph() {
    let f = torch_file();
    let st: SafeTensors = SafeTensors::parse(&f).unwrap();
    assert_eq!(st.tensors().len(), 4);
    let (mut g, m) = model32(1);
    load(&st, &mut g, &m.params(""), LoadOptions::default()).unwrap();
    // The graph's W is IN × OUT: the transpose of PyTorch's.
    assert_eq!(
        g.value_slice(m.layers[0].weight).unwrap(),
        &[1., 3., 5., 2., 4., 6.]
    );
    assert_eq!(g.value_slice(m.layers[0].bias).unwrap(), &[0.5, -0.5, 0.]);
    assert_eq!(g.value_slice(m.layers[1].weight).unwrap(), &[1., -1., 2.]);
    assert_eq!(g.value_slice(m.layers[1].bias).unwrap(), &[0.25]);
    // y = W2 relu(W1 x + b1) + b2 for x = (1, -1): relu(-0.5, -1.5, -1) = 0 → 0.25;
    // x = (1, 1): relu(3.5, 6.5, 11) → 3.5 − 6.5 + 22 + 0.25.
    assert_eq!(m.predict_row(&mut g, &[1.0, -1.0]).unwrap(), [0.25]);
    assert_eq!(m.predict_row(&mut g, &[1.0, 1.0]).unwrap(), [19.25]);
}

#[test]
fn written_files_are_pytorch_s_layout_and_round_trip_bit_for_bit() {
    let f = torch_file();
    let st: SafeTensors = SafeTensors::parse(&f).unwrap();
    let (mut g, m) = model32(1);
    load(&st, &mut g, &m.params(""), LoadOptions::default()).unwrap();
    let mut out = [0u8; 1024];
    let n = write_to_slice(&g, &m.params(""), Dtype::F32, &mut out).unwrap();
    assert_eq!(n, encoded_len(&g, &m.params(""), Dtype::F32).unwrap());
    // The same bytes as PyTorch's file: the same header (ours has the same order and
    // metadata) and data.
    assert_eq!(&out[..n], f.as_slice());

    // Random weights through every dtype: F32 and F64 exactly, F16/BF16 rounded as `half`.
    let (mut a, ma) = model32(7);
    for dtype in [Dtype::F32, Dtype::F64, Dtype::F16, Dtype::BF16] {
        let n = write_to_slice(&a, &ma.params(""), dtype, &mut out).unwrap();
        let st: SafeTensors = SafeTensors::parse(&out[..n]).unwrap();
        assert_eq!((8 + st.header_len()) % 8, 0, "data 8-byte aligned");
        let (mut b, mb) = model32(8);
        load(&st, &mut b, &mb.params(""), LoadOptions::default()).unwrap();
        let (wa, wb) = (weights(&mut a), weights(&mut b));
        for (x, y) in wa.iter().zip(&wb) {
            let want = match dtype {
                Dtype::F32 | Dtype::F64 => *x,
                Dtype::F16 => half::f16::from_f64(*x).to_f64() as f32 as f64,
                Dtype::BF16 => half::bf16::from_f64(*x).to_f64() as f32 as f64,
                Dtype::I8 | Dtype::I32 => unreachable!("not written here"),
            };
            assert_eq!(y.to_bits(), want.to_bits(), "{dtype:?}");
        }
    }
    // f64 graphs through F64: bit for bit.
    let mut g: Box<G64> = Box::new(StdGraph::new());
    let m: Model<1, 2, 1, 2> = NET
        .build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(3))
        .unwrap();
    let n = write_to_slice(&g, &m.params("net."), Dtype::F64, &mut out).unwrap();
    let st: SafeTensors = SafeTensors::parse(&out[..n]).unwrap();
    assert!(st.get("net.2.bias").is_some());
    let mut h: Box<G64> = Box::new(StdGraph::new());
    let mh: Model<1, 2, 1, 2> = NET
        .build(&mut h, Loss::MeanSquaredError, &mut SplitMix64::new(4))
        .unwrap();
    load(&st, &mut h, &mh.params("net."), LoadOptions::default()).unwrap();
    assert_eq!(weights(&mut g), weights(&mut h));
    // Without the prefix nothing matches.
    let e = load(&st, &mut h, &mh.params(""), LoadOptions::default()).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::Missing, "0.weight")
    );
}

#[test]
fn io_and_flash_writers_give_the_same_file() {
    let (g, m) = model32(5);
    let mut want = [0u8; 512];
    let n = write_to_slice(&g, &m.params(""), Dtype::F32, &mut want).unwrap();

    let mut buf = [0u8; 512];
    let mut w: &mut [u8] = &mut buf;
    assert_eq!(
        write_to_io(&g, &m.params(""), Dtype::F32, &mut w).unwrap(),
        n
    );
    assert_eq!(&buf[..n], &want[..n]);
    // A writer with no room fails with the length needed.
    let mut small = [0u8; 40];
    let mut w: &mut [u8] = &mut small;
    assert_eq!(
        write_to_io(&g, &m.params(""), Dtype::F32, &mut w)
            .unwrap_err()
            .problem,
        Problem::Write { needed: n }
    );

    for offset in [0u32, 256] {
        let mut flash: SimFlash<1024, 4, 256> = SimFlash::new();
        flash.bytes_mut().fill(0);
        assert_eq!(
            write_to_flash(&g, &m.params(""), Dtype::F32, &mut flash, offset).unwrap(),
            n
        );
        let at = offset as usize;
        assert_eq!(&flash.bytes()[at..at + n], &want[..n]);
        let st: SafeTensors = SafeTensors::parse(&flash.bytes()[at..at + n]).unwrap();
        let (mut h, mh) = model32(6);
        load(&st, &mut h, &mh.params(""), LoadOptions::default()).unwrap();
    }
    let mut flash: SimFlash<1024, 4, 256> = SimFlash::new();
    // Not erase-aligned; not enough room.
    for offset in [4u32, 768 + 256] {
        assert!(matches!(
            write_to_flash(&g, &m.params(""), Dtype::F32, &mut flash, offset)
                .unwrap_err()
                .problem,
            Problem::Write { .. }
        ));
    }
}

#[test]
fn f32_data_is_viewed_in_place_when_aligned() {
    let f = torch_file();
    // Copy into 8-aligned memory: the data then starts 8-aligned (header padded to 8).
    let mut aligned = vec![0u64; f.len().div_ceil(8)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
    bytes[..f.len()].copy_from_slice(&f);
    let st: SafeTensors = SafeTensors::parse(&bytes[..f.len()]).unwrap();
    let t = st.get("0.weight").unwrap();
    if cfg!(target_endian = "little") {
        assert_eq!(t.as_f32(), Some(&[1.0f32, 2., 3., 4., 5., 6.][..]));
    } else {
        assert_eq!(t.as_f32(), None); // the bytes are little-endian: no view on big-endian
    }
    assert!(core::ptr::eq(
        t.data.as_ptr(),
        bytes[8 + st.header_len()..].as_ptr()
    ));
    // Misaligned by one byte: no view, the values are still read.
    let mut off = vec![0u8; f.len() + 1];
    off[1..].copy_from_slice(&f);
    let st: SafeTensors = SafeTensors::parse(&off[1..]).unwrap();
    let t = st.get("0.weight").unwrap();
    if !(t.data.as_ptr() as usize).is_multiple_of(4) {
        assert_eq!(t.as_f32(), None);
    }
    assert_eq!(t.get(5), Some(6.0));
}

/// Every bad file is refused with the tensor and the problem, and the graph is unchanged.
#[test]
fn bad_files_are_refused_naming_the_tensor_and_nothing_changes() {
    let ok_data = f32s(&[1., 2., 3., 4., 5., 6., 0.5, -0.5, 0., 1., -1., 2., 0.25]);
    let entry = |name: &str, dtype: &str, shape: &str, a: usize, b: usize| {
        format!(r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{a},{b}]}}"#)
    };
    let standard = |w0: String| {
        format!(
            "{{{w0},{},{},{}}}",
            entry("0.bias", "F32", "[3]", 24, 36),
            entry("2.weight", "F32", "[1,3]", 36, 48),
            entry("2.bias", "F32", "[1]", 48, 52)
        )
    };
    let w0 = |dtype: &str, shape: &str, a: usize, b: usize| entry("0.weight", dtype, shape, a, b);
    let named = |p: Problem, t: &str| (p, t.to_string());
    let cases: Vec<(Vec<u8>, (Problem, String))> = vec![
        // Header length beyond the data: a truncated file.
        (
            {
                let mut f = torch_file();
                f.truncate(100);
                f
            },
            named(
                Problem::HeaderPastEnd {
                    header: torch_file()[..8]
                        .iter()
                        .rev()
                        .fold(0, |a, &b| a * 256 + b as u64),
                    available: 92,
                },
                "",
            ),
        ),
        (vec![1, 2, 3], named(Problem::TooShort { found: 3 }, "")),
        // Truncated inside the data.
        (
            {
                let mut f = torch_file();
                f.truncate(f.len() - 1);
                f
            },
            named(
                Problem::OffsetsOutOfRange {
                    start: 48,
                    end: 52,
                    data: 51,
                },
                "2.bias",
            ),
        ),
        (file("not json", &ok_data), named(Problem::NotJson, "")),
        (file("{\"a\":", &ok_data), named(Problem::NotJson, "")),
        (file("[1,2]", &ok_data), named(Problem::NotJson, "")),
        (
            file(r#"{"0.weight":{"dtype":"F32"}}"#, &ok_data),
            named(Problem::NotJson, ""),
        ),
        (
            file(&standard(w0("U8", "[3,2]", 0, 24)), &ok_data),
            named(Problem::UnsupportedDtype, "0.weight"),
        ),
        (
            file(&standard(w0("F32", "[1,1,1,1,6]", 0, 24)), &ok_data),
            named(Problem::UnsupportedShape { rank: 5 }, "0.weight"),
        ),
        (
            file(&standard(w0("F32", "[3,2]", 0, 20)), &ok_data),
            named(
                Problem::ByteLength {
                    expected: 24,
                    found: 20,
                },
                "0.weight",
            ),
        ),
        (
            file(&standard(w0("F32", "[3,2]", 24, 0)), &ok_data),
            named(
                Problem::OffsetsOutOfRange {
                    start: 24,
                    end: 0,
                    data: 52,
                },
                "0.weight",
            ),
        ),
        (
            file(&standard(w0("F32", "[3,2]", 20, 44)), &ok_data),
            named(
                Problem::Overlap {
                    other: Name::new("0.weight"),
                },
                "0.bias",
            ),
        ),
        (
            file(
                &standard(w0("F32", "[3,2]", 0, 24)),
                &[ok_data.clone(), vec![0; 4]].concat(),
            ),
            named(
                Problem::Uncovered {
                    covered: 52,
                    data: 56,
                },
                "",
            ),
        ),
        (
            file(
                &format!(
                    "{{{},{},{},{},{}}}",
                    w0("F32", "[3,2]", 0, 24),
                    entry("0.bias", "F32", "[3]", 24, 36),
                    entry("0.bias", "F32", "[3]", 24, 36),
                    entry("2.weight", "F32", "[1,3]", 36, 48),
                    entry("2.bias", "F32", "[1]", 48, 52)
                ),
                &ok_data,
            ),
            named(Problem::DuplicateName, "0.bias"),
        ),
        // Checks against the model.
        (
            file(&standard(w0("F32", "[2,3]", 0, 24)), &ok_data),
            named(
                Problem::WrongShape {
                    expected: Dims::new(&[3, 2]),
                    found: Dims::new(&[2, 3]),
                },
                "0.weight",
            ),
        ),
        (
            file(
                &format!(
                    "{{{},{},{}}}",
                    w0("F32", "[3,2]", 0, 24),
                    entry("0.bias", "F32", "[3]", 24, 36),
                    entry("2.weight", "F32", "[1,3]", 36, 48),
                ),
                &ok_data[..48],
            ),
            named(Problem::Missing, "2.bias"),
        ),
        (
            file(
                &format!(
                    "{{{},{},{},{},{}}}",
                    w0("F32", "[3,2]", 0, 24),
                    entry("0.bias", "F32", "[3]", 24, 36),
                    entry("2.weight", "F32", "[1,3]", 36, 48),
                    entry("2.bias", "F32", "[1]", 48, 52),
                    entry("3.weight", "F32", "[1]", 52, 56)
                ),
                &[ok_data.clone(), f32s(&[1.0])].concat(),
            ),
            named(Problem::Unexpected, "3.weight"),
        ),
        (
            file(&standard(w0("F32", "[3,2]", 0, 24)), &{
                let mut d = ok_data.clone();
                d[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
                d
            }),
            named(Problem::NonFinite { index: 4 }, "0.weight"),
        ),
    ];
    for (i, (bytes, (problem, tensor))) in cases.iter().enumerate() {
        let (mut g, m) = model32(9);
        let before = weights(&mut g);
        let err = SafeTensors::<16>::parse(bytes)
            .and_then(|st| load(&st, &mut g, &m.params(""), LoadOptions::default()));
        let err = err.expect_err(&format!("case {i}"));
        assert_eq!(
            (err.problem, err.tensor.as_str()),
            (*problem, tensor.as_str()),
            "case {i}: {err}"
        );
        assert_eq!(weights(&mut g), before, "case {i}: the graph changed");
        assert!(!format!("{err}").is_empty());
    }
}

#[test]
fn an_f64_value_too_large_for_f32_is_refused() {
    let header = r#"{"0.weight":{"dtype":"F64","shape":[3,2],"data_offsets":[0,48]},"0.bias":{"dtype":"F64","shape":[3],"data_offsets":[48,72]},"2.weight":{"dtype":"F64","shape":[1,3],"data_offsets":[72,96]},"2.bias":{"dtype":"F64","shape":[1],"data_offsets":[96,104]}}"#;
    let mut vals = [0.5f64; 13];
    vals[11] = 1e300;
    let data: Vec<u8> = vals.iter().flat_map(|x| x.to_le_bytes()).collect();
    let f = file(header, &data);
    let st: SafeTensors = SafeTensors::parse(&f).unwrap();
    let (mut g, m) = model32(2);
    let e = load(&st, &mut g, &m.params(""), LoadOptions::default()).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::NonFinite { index: 2 }, "2.weight")
    );
    // An f64 graph takes it.
    let mut h: Box<G64> = Box::new(StdGraph::new());
    let mh: Model<1, 2, 1, 2> = NET
        .build(&mut h, Loss::MeanSquaredError, &mut SplitMix64::new(4))
        .unwrap();
    load(&st, &mut h, &mh.params(""), LoadOptions::default()).unwrap();
    assert_eq!(h.value_slice(mh.layers[1].weight).unwrap()[2], 1e300);
}

#[test]
fn extra_tensors_load_when_allowed_and_capacity_is_reported() {
    let header = r#"{"0.weight":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},"0.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]},"2.weight":{"dtype":"F32","shape":[1,3],"data_offsets":[36,48]},"2.bias":{"dtype":"F32","shape":[1],"data_offsets":[48,52]},"head.scale":{"dtype":"BF16","shape":[],"data_offsets":[52,54]}}"#;
    let mut data = f32s(&[1., 2., 3., 4., 5., 6., 0.5, -0.5, 0., 1., -1., 2., 0.25]);
    data.extend(half::bf16::from_f32(2.0).to_le_bytes());
    let f = file(header, &data);
    let st: SafeTensors = SafeTensors::parse(&f).unwrap();
    assert_eq!(
        st.get("head.scale").map(|t| (t.len(), t.get(0))),
        Some((1, Some(2.0)))
    );
    let (mut g, m) = model32(2);
    let e = load(&st, &mut g, &m.params(""), LoadOptions::default()).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::Unexpected, "head.scale")
    );
    load(
        &st,
        &mut g,
        &m.params(""),
        LoadOptions { allow_extra: true },
    )
    .unwrap();
    assert_eq!(g.value_slice(m.layers[1].bias).unwrap(), &[0.25]);
    // A reader for 4 tensors refuses the fifth, by name.
    let e = SafeTensors::<4>::parse(&f).unwrap_err();
    assert_eq!(
        (e.problem, e.tensor.as_str()),
        (Problem::TooManyTensors { capacity: 4 }, "head.scale")
    );
}

#[test]
fn the_writer_refuses_names_a_header_cannot_hold_and_non_variables() {
    let (mut g, m) = model32(1);
    let w = m.layers[0].weight;
    let bad = ["", "__metadata__", "a\"b", "a\\b", "a\nb"];
    let mut out = [0u8; 512];
    for name in bad {
        let p = [Param {
            name: ParamName::Plain(name),
            node: w,
            layout: Layout::Matrix,
        }];
        let e = write_to_slice(&g, &p, Dtype::F32, &mut out).unwrap_err();
        assert_eq!(e.problem, Problem::BadName, "{name:?}");
    }
    let twice = [
        Param {
            name: ParamName::Plain("w"),
            node: w,
            layout: Layout::Matrix,
        },
        Param {
            name: ParamName::Plain("w"),
            node: m.layers[1].weight,
            layout: Layout::Matrix,
        },
    ];
    assert_eq!(
        write_to_slice(&g, &twice, Dtype::F32, &mut out)
            .unwrap_err()
            .problem,
        Problem::BadName
    );
    let not_a_variable = [Param {
        name: ParamName::Plain("x"),
        node: m.x.id(),
        layout: Layout::Matrix,
    }];
    assert_eq!(
        write_to_slice(&g, &not_a_variable, Dtype::F32, &mut out)
            .unwrap_err()
            .problem,
        Problem::Graph(Error::WrongNodeKind(m.x.id()))
    );
    // Loading into a placeholder is refused as well.
    let f = torch_file();
    let st: SafeTensors = SafeTensors::parse(&f).unwrap();
    let p = [Param {
        name: ParamName::Plain("0.bias"),
        node: m.x.id(),
        layout: Layout::Vector,
    }];
    let e = load(&st, &mut g, &p, LoadOptions { allow_extra: true }).unwrap_err();
    assert_eq!(e.problem, Problem::Graph(Error::WrongNodeKind(m.x.id())));
    // Too small a buffer reports the length needed.
    let n = encoded_len(&g, &m.params(""), Dtype::F32).unwrap();
    let e = write_to_slice(&g, &m.params(""), Dtype::F32, &mut out[..n - 1]).unwrap_err();
    assert_eq!(e.problem, Problem::Write { needed: n });
}

#[test]
#[cfg_attr(miri, ignore)] // a few thousand parses: slow under Miri
fn every_truncation_and_every_byte_flip_is_handled() {
    let f = torch_file();
    for len in 0..f.len() {
        assert!(SafeTensors::<16>::parse(&f[..len]).is_err(), "prefix {len}");
    }
    let (mut g, m) = model32(3);
    for i in 0..f.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut b = f.clone();
            b[i] ^= bit;
            let before = weights(&mut g);
            match SafeTensors::<16>::parse(&b)
                .and_then(|st| load(&st, &mut g, &m.params(""), LoadOptions::default()))
            {
                Ok(()) => assert!(weights(&mut g).iter().all(|x| x.is_finite())),
                Err(_) => assert_eq!(weights(&mut g), before),
            }
        }
    }
}

#[test]
fn names_match_exactly() {
    let p = ParamName::Module {
        prefix: "net.",
        index: 12,
        field: "weight",
    };
    assert!(p.matches("net.12.weight"));
    for s in [
        "net.012.weight",
        "net.12.bias",
        "12.weight",
        "net.1.weight",
        "net.12.weights",
        "net.+12.weight",
    ] {
        assert!(!p.matches(s), "{s}");
    }
    assert_eq!(format!("{p}"), "net.12.weight");
    let long = "x".repeat(100);
    let n = Name::new(&long);
    assert!(n.is_cut());
    assert_eq!(n.as_str().len(), NAME_LEN);
    assert!(format!("{n}").ends_with('…'));
    // Cut at a character boundary.
    let n = Name::new(&"é".repeat(40));
    assert_eq!(n.as_str(), "é".repeat(16));
}
