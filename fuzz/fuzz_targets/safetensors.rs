//! Arbitrary bytes into the safetensors reader, and what it accepts into a model.
//!
//! Invariants: parsing never panics; what it accepts is consistent (each tensor's bytes lie in
//! the input, have the length its dtype and shape need, no two overlap, together they cover the
//! data, names are unique); loading into a model either succeeds with finite weights or fails
//! with the graph unchanged; weights it loaded write out to a file that parses and loads back
//! to the same values.

#![no_main]

use embedgrad_core::{Error, Scalar};
use embedgrad_ops::prelude::*;
use embedgrad_train::layers::{Activation, DenseSpec, Loss, Mlp, Model};
use embedgrad_train::safetensors::{self, Dtype, LoadOptions, SafeTensors};
use embedgrad_train::SplitMix64;
use libfuzzer_sys::fuzz_target;

/// `nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))`, the seeds' model.
const NET: Mlp<2> = Mlp::new(
    2,
    [
        DenseSpec::new(3, Activation::Relu),
        DenseSpec::new(1, Activation::Identity),
    ],
);

fn values<T: Scalar, const N: usize, const S: usize>(g: &mut StdGraph<T, N, S>) -> Vec<u64> {
    let mut out = Vec::new();
    g.for_each_variable::<Error>(|v| {
        out.extend(v.value.iter().map(|x| x.to_f64().to_bits()));
        Ok(())
    })
    .unwrap();
    out
}

fn check_load<T: Scalar>(st: &SafeTensors<'_, 8>, allow_extra: bool) {
    let mut g: Box<StdGraph<T, 16, 256>> = Box::new(StdGraph::new());
    let m: Model<1, 2, 1, 2> = NET
        .build(&mut g, Loss::MeanSquaredError, &mut SplitMix64::new(1))
        .unwrap();
    let before = values(&mut g);
    match safetensors::load(st, &mut g, &m.params(""), LoadOptions { allow_extra }) {
        Err(_) => assert_eq!(values(&mut g), before, "a refused load changed the graph"),
        Ok(()) => {
            let loaded = values(&mut g);
            assert!(loaded.iter().all(|&b| f64::from_bits(b).is_finite()));
            let dtype = if T::BYTES == 4 { Dtype::F32 } else { Dtype::F64 };
            let mut out = [0u8; 1024];
            let n = safetensors::write_to_slice(&g, &m.params(""), dtype, &mut out).unwrap();
            let again: SafeTensors<'_, 8> = SafeTensors::parse(&out[..n]).unwrap();
            let mut h: Box<StdGraph<T, 16, 256>> = Box::new(StdGraph::new());
            let mh: Model<1, 2, 1, 2> = NET
                .build(&mut h, Loss::MeanSquaredError, &mut SplitMix64::new(2))
                .unwrap();
            safetensors::load(&again, &mut h, &mh.params(""), LoadOptions::default()).unwrap();
            assert_eq!(values(&mut h), loaded, "a written file loads back differently");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(st) = SafeTensors::<8>::parse(data) else {
        return;
    };
    let start = 8 + st.header_len();
    let data_len = data.len() - start;
    let base = data.as_ptr() as usize + start;
    let mut covered = 0;
    for (i, t) in st.tensors().iter().enumerate() {
        let at = t.data.as_ptr() as usize - base;
        assert_eq!((at, at + t.data.len()), t.offsets);
        assert!(at + t.data.len() <= data_len);
        assert_eq!(Some(t.data.len()), t.dims.elements().map(|n| n * t.dtype.size()));
        for u in &st.tensors()[..i] {
            assert_ne!(u.name, t.name);
            let (a, b) = (t.offsets, u.offsets);
            assert!(a.0 == a.1 || b.0 == b.1 || a.1 <= b.0 || b.1 <= a.0, "overlap");
        }
        assert_eq!(t.len(), t.data.len() / t.dtype.size());
        if let Some(v) = t.as_f32() {
            assert_eq!(v.len(), t.len());
        }
        covered += t.data.len();
    }
    assert_eq!(covered, data_len);
    check_load::<f32>(&st, false);
    check_load::<f64>(&st, true);
});
