//! Unit tests of the checkpoint format and store (the exhaustive power-cut sweep is in
//! `tests/power_cut.rs`).

use super::sim::{CutMode, ReadFault, SimFlash};
use super::*;
use crate::GradientDescent;
use embedgrad_core::{Matrix, NodeId, Origin};
use embedgrad_ops::prelude::*;
use std::vec::Vec;

/// An optimizer with per-parameter state and an update count, for the hooks.
struct Stateful<T, const P: usize> {
    state: [T; P],
    count: u32,
}

impl<T: Scalar, const P: usize> Optimizer<T> for Stateful<T, P> {
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        _: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        Ok(())
    }
    fn state(&self) -> &[T] {
        &self.state
    }
    fn state_mut(&mut self) -> &mut [T] {
        &mut self.state
    }
    fn update_count(&self) -> u32 {
        self.count
    }
    fn set_update_count(&mut self, c: u32) {
        self.count = c;
    }
}

type G32 = StdGraph<f32, 8, 64>;

/// Two variables (2×3 and 1×3) and a placeholder between them.
fn model32(a: f32) -> (G32, NodeId, NodeId) {
    let mut g = G32::new();
    let w = g
        .variable(&Matrix::new([[a, 2.0, 3.0], [4.0, 5.0, -6.5]]))
        .unwrap();
    let _x = g.placeholder::<1, 2>().unwrap();
    let b = g.variable(&Matrix::new([[0.5, -0.25, a]])).unwrap();
    (g, w.id(), b.id())
}

fn values<T: Scalar, O: Op<T>, const N: usize, const S: usize>(g: &Graph<T, O, N, S>) -> Vec<T> {
    g.variables()
        .flat_map(|id| g.value_slice(id).unwrap().to_vec())
        .collect()
}

/// The reference CRC-32: the `crc` crate's CRC-32/ISO-HDLC.
fn crc_ref(bytes: &[u8]) -> u32 {
    ::crc::Crc::<u32>::new(&::crc::CRC_32_ISO_HDLC).checksum(bytes)
}

#[test]
fn layout_is_as_documented() {
    let (g, _, _) = model32(1.0);
    let opt = Stateful {
        state: [7.0f32, 8.0],
        count: 42,
    };
    let mut buf = [0u8; 256];
    let n = save_to_slice(&g, &opt, 0x0102_0304, &mut buf).unwrap();
    assert_eq!(n, 40 + 2 * 4 + 4 * (9 + 2) + 4);
    assert_eq!(encoded_len(&g, &opt).unwrap(), n);
    let rec = &buf[..n];
    assert_eq!(&rec[0..4], b"EGCK");
    assert_eq!(&rec[4..6], &[2, 0]);
    assert_eq!(&rec[6..8], &[4, 0]);
    assert_eq!(&rec[8..12], &[4, 3, 2, 1]);
    assert_eq!(u32::from_le_bytes(rec[12..16].try_into().unwrap()), 2);
    assert_eq!(u32::from_le_bytes(rec[16..20].try_into().unwrap()), 9);
    assert_eq!(u32::from_le_bytes(rec[20..24].try_into().unwrap()), 2);
    assert_eq!(u32::from_le_bytes(rec[24..28].try_into().unwrap()), 42);
    assert_eq!(
        u32::from_le_bytes(rec[28..32].try_into().unwrap()),
        n as u32
    );
    let model = model_fingerprint(&g).unwrap();
    assert_eq!(u32::from_le_bytes(rec[32..36].try_into().unwrap()), model);
    assert_eq!(u32::from_le_bytes(rec[36..40].try_into().unwrap()), 0); // not declared
    assert_eq!(&rec[40..48], &[2, 0, 3, 0, 1, 0, 3, 0]); // 2×3, 1×3
    assert_eq!(&rec[48..52], &1.0f32.to_le_bytes());
    assert_eq!(&rec[68..72], &(-6.5f32).to_le_bytes());
    assert_eq!(&rec[84..88], &7.0f32.to_le_bytes()); // optimizer state after 9 values
    let crc = u32::from_le_bytes(rec[n - 4..].try_into().unwrap());
    assert_eq!(crc, crc_ref(&rec[..n - 4]));
    assert!(
        buf[n..].iter().all(|&b| b == 0),
        "nothing written past the record"
    );
    let info = inspect(rec).unwrap();
    assert_eq!(
        info,
        Info {
            sequence: 0x0102_0304,
            scalar_bytes: 4,
            variables: 2,
            value_scalars: 9,
            state_scalars: 2,
            update_count: 42,
            model,
            optimizer: 0,
            len: n as u32,
            crc,
            finite: true,
        }
    );
}

#[test]
fn round_trip_f32_and_f64_with_optimizer_state() {
    let (g, _, _) = model32(1.25);
    let opt = Stateful {
        state: [1.5f32, -2.0, 1e-30],
        count: 9,
    };
    let mut buf = [0u8; 256];
    let n = save_to_slice(&g, &opt, 5, &mut buf).unwrap();
    let (mut h, _, _) = model32(-9.0);
    let mut opt2 = Stateful {
        state: [0.0f32; 3],
        count: 0,
    };
    assert_ne!(values(&h), values(&g));
    let info = restore_from_slice(&mut h, &mut opt2, &buf[..n]).unwrap();
    assert_eq!(info.sequence, 5);
    assert_eq!(values(&h), values(&g));
    assert_eq!(opt2.state, opt.state);
    assert_eq!(opt2.count, 9);

    let mut g64: StdGraph<f64, 4, 32> = StdGraph::new();
    let w = g64
        .variable(&Matrix::new([[core::f64::consts::PI, -1e300]]))
        .unwrap();
    let mut buf = [0u8; 128];
    let n = save_to_slice(&g64, &GradientDescent::new(0.1), 1, &mut buf).unwrap();
    assert_eq!(n, 40 + 4 + 16 + 4);
    g64.assign(w, &Matrix::new([[0.0, 0.0]])).unwrap();
    restore_from_slice(&mut g64, &mut GradientDescent::new(0.1), &buf[..n]).unwrap();
    assert_eq!(
        g64.value(w).unwrap(),
        Matrix::new([[core::f64::consts::PI, -1e300]])
    );
}

/// Restoring `bytes` into `g` fails with `want`, and changes nothing.
fn refused<const P: usize>(
    g: &mut G32,
    opt: &mut Stateful<f32, P>,
    bytes: &[u8],
    want: RestoreError,
) {
    let before = values(g);
    let (state, count) = (opt.state, opt.count);
    assert_eq!(restore_from_slice(g, opt, bytes).map(|_| ()), Err(want));
    assert_eq!(values(g), before);
    assert_eq!(opt.state.map(f32::to_bits), state.map(f32::to_bits));
    assert_eq!(opt.count, count);
}

fn saved32(g: &G32, state: [f32; 2]) -> Vec<u8> {
    let opt = Stateful { state, count: 3 };
    let mut buf = [0u8; 256];
    let n = save_to_slice(g, &opt, 1, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Rewrites the CRC after editing a record.
fn reseal(rec: &mut [u8]) {
    let n = rec.len();
    let crc = crc_ref(&rec[..n - 4]);
    rec[n - 4..].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn restore_refuses_other_shapes_counts_types_and_leaves_everything() {
    let (g, _, _) = model32(1.0);
    let rec = saved32(&g, [1.0, 2.0]);
    let mut opt = Stateful {
        state: [0.0f32; 2],
        count: 0,
    };

    // Same number of scalars, other shape: 3×2 instead of 2×3.
    let mut other = G32::new();
    other.variable(&Matrix::<f32, 3, 2>::splat(0.0)).unwrap();
    other.variable(&Matrix::<f32, 1, 3>::splat(0.0)).unwrap();
    refused(
        &mut other,
        &mut opt,
        &rec,
        RestoreError::Mismatch(Error::ShapeMismatch {
            expected: Shape::new(3, 2),
            found: Shape::new(2, 3),
        }),
    );
    // One variable fewer.
    let mut fewer = G32::new();
    fewer.variable(&Matrix::<f32, 2, 3>::splat(0.0)).unwrap();
    refused(
        &mut fewer,
        &mut opt,
        &rec,
        RestoreError::Mismatch(Error::LengthMismatch {
            expected: 1,
            found: 2,
        }),
    );
    // Same count, more scalars.
    let mut bigger = G32::new();
    bigger.variable(&Matrix::<f32, 2, 3>::splat(0.0)).unwrap();
    bigger.variable(&Matrix::<f32, 1, 4>::splat(0.0)).unwrap();
    refused(
        &mut bigger,
        &mut opt,
        &rec,
        RestoreError::Mismatch(Error::LengthMismatch {
            expected: 10,
            found: 9,
        }),
    );
    // Optimizer state of another length.
    let (mut same, _, _) = model32(0.0);
    let mut opt3 = Stateful {
        state: [0.0f32; 3],
        count: 0,
    };
    let before = values(&same);
    assert_eq!(
        restore_from_slice(&mut same, &mut opt3, &rec).map(|_| ()),
        Err(RestoreError::Mismatch(Error::LengthMismatch {
            expected: 3,
            found: 2
        }))
    );
    assert_eq!(values(&same), before);
    assert_eq!((opt3.state, opt3.count), ([0.0; 3], 0));
    // An f32 checkpoint into an f64 graph.
    let mut g64: StdGraph<f64, 8, 64> = StdGraph::new();
    g64.variable(&Matrix::<f64, 2, 3>::splat(0.0)).unwrap();
    g64.variable(&Matrix::<f64, 1, 3>::splat(0.0)).unwrap();
    let mut opt64 = Stateful {
        state: [0.0f64; 2],
        count: 0,
    };
    assert_eq!(
        restore_from_slice(&mut g64, &mut opt64, &rec).map(|_| ()),
        Err(RestoreError::OtherScalarType {
            expected: 8,
            found: 4
        })
    );
    assert!(values(&g64).iter().all(|&v| v == 0.0));
}

#[test]
fn restore_refuses_bad_headers_truncation_and_non_finite_values() {
    let (g, _, _) = model32(1.0);
    let rec = saved32(&g, [1.0, 2.0]);
    let (mut h, _, _) = model32(0.0);
    let mut opt = Stateful {
        state: [0.0f32; 2],
        count: 0,
    };
    // Each header field changed, CRC recomputed: still refused.
    for (at, byte) in [(0, b'X'), (6, 8), (7, 1), (12, 3), (16, 10), (28, 0)] {
        let mut r = rec.clone();
        r[at] = byte;
        reseal(&mut r);
        refused(&mut h, &mut opt, &r, RestoreError::Damaged);
    }
    // Another version with an intact CRC is recognised as such.
    for version in [0u16, 1, 3, 0xFFFF] {
        let mut r = rec.clone();
        r[4..6].copy_from_slice(&version.to_le_bytes());
        reseal(&mut r);
        refused(&mut h, &mut opt, &r, RestoreError::OtherFormat { version });
    }
    // A zero dimension in the shape table.
    let mut r = rec.clone();
    r[40] = 0;
    reseal(&mut r);
    refused(&mut h, &mut opt, &r, RestoreError::Damaged);
    // Every truncation.
    for n in 0..rec.len() {
        refused(&mut h, &mut opt, &rec[..n], RestoreError::Damaged);
    }
    // Trailing bytes are ignored.
    let mut long = rec.clone();
    long.extend_from_slice(&[0xAB; 10]);
    assert!(inspect(&long).is_ok());
    // NaN and infinity, stored with a correct CRC: refused as non-finite.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for at in [48, 48 + 8 * 4, 48 + 9 * 4] {
            let mut r = rec.clone();
            r[at..at + 4].copy_from_slice(&bad.to_le_bytes());
            reseal(&mut r);
            assert!(!inspect(&r).unwrap().finite);
            refused(
                &mut h,
                &mut opt,
                &r,
                RestoreError::Mismatch(Error::non_finite_in(Origin::Checkpoint)),
            );
        }
    }
}

#[test]
fn bit_errors_in_a_record_are_detected() {
    let (g, _, _) = model32(1.0);
    let rec = saved32(&g, [1.0, 2.0]);
    let bits = rec.len() * 8;
    // Under Miri (thousands of times slower) every 13th bit and 20 random patterns per size.
    let (stride, patterns) = if cfg!(miri) { (13, 20) } else { (1, 2000) };
    let mut tried = 0;
    for i in (0..bits).step_by(stride) {
        let mut r = rec.clone();
        r[i / 8] ^= 1 << (i % 8);
        assert_eq!(inspect(&r), Err(RestoreError::Damaged), "bit {i}");
        tried += 1;
    }
    let mut rng = crate::SplitMix64::new(11);
    for k in [2, 3, 4, 8, 32] {
        for _ in 0..patterns {
            let mut r = rec.clone();
            let mut flipped = std::collections::BTreeSet::new();
            while flipped.len() < k {
                flipped.insert(rng.below(bits as u64) as usize);
            }
            for &i in &flipped {
                r[i / 8] ^= 1 << (i % 8);
            }
            assert_eq!(inspect(&r), Err(RestoreError::Damaged), "bits {flipped:?}");
            tried += 1;
        }
    }
    assert_eq!(tried, bits.div_ceil(stride) + 5 * patterns);
}

#[test]
fn save_refuses_non_finite_models_and_short_buffers() {
    let (g, _, _) = model32(1.0);
    let opt = Stateful {
        state: [0.0f32, f32::NAN],
        count: 0,
    };
    let mut buf = [0u8; 256];
    assert_eq!(
        save_to_slice(&g, &opt, 1, &mut buf),
        Err(Error::non_finite_in(Origin::Checkpoint))
    );
    assert!(buf.iter().all(|&b| b == 0));
    let opt = GradientDescent::new(0.1f32);
    let need = encoded_len(&g, &opt).unwrap();
    assert_eq!(
        save_to_slice(&g, &opt, 1, &mut buf[..need - 1]),
        Err(Error::LengthMismatch {
            expected: need,
            found: need - 1
        })
    );
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn an_empty_model_round_trips() {
    let g: G32 = G32::new();
    let mut buf = [0u8; 64];
    let n = save_to_slice(&g, &GradientDescent::new(1.0f32), 1, &mut buf).unwrap();
    assert_eq!(n, 44);
    let mut h: G32 = G32::new();
    assert!(restore_from_slice(&mut h, &mut GradientDescent::new(1.0), &buf[..n]).is_ok());
}

#[test]
fn sequence_numbers_compare_modulo_2_32() {
    assert!(newer(2, 1));
    assert!(!newer(1, 2));
    assert!(!newer(5, 5));
    assert!(newer(0, u32::MAX));
    assert!(newer(3, u32::MAX - 3));
}

type Flash = SimFlash<4096, 4, 256>;

#[test]
fn store_checks_its_geometry() {
    assert!(Store::new(Flash::new(), 0, 2048).is_ok());
    assert!(Store::new(Flash::new(), 256, 1024).is_ok());
    // Each refusal names the value and what it must be: a non-zero multiple of the erase
    // size (256 bytes here), or two slots that fit the 4,096-byte flash.
    let misaligned = |what, value| {
        Err(Error::Misaligned {
            what,
            value,
            unit: 256,
        })
    };
    let past_the_end = |needed| {
        Err(Error::TooSmall {
            what: "flash for two checkpoint slots (bytes from 0)",
            needed,
            available: 4096,
        })
    };
    for (base, len, expected) in [
        (0, 0, misaligned("checkpoint slot length", 0)),
        (0, 100, misaligned("checkpoint slot length", 100)),
        (128, 256, misaligned("checkpoint slot base", 128)),
        (0, 4096, past_the_end(8192)),
        (2048, 1280, past_the_end(2048 + 2 * 1280)),
    ] {
        assert_eq!(
            Store::new(Flash::new(), base, len).map(|_| ()),
            expected,
            "{base} {len}"
        );
    }
    // A 128-byte write size is more than one chunk.
    assert!(Store::new(SimFlash::<4096, 128, 256>::new(), 0, 256).is_err());
}

#[test]
fn store_alternates_slots_and_restores_the_newest() {
    let mut store = Store::new(Flash::new(), 256, 512).unwrap();
    let (mut g, w, _) = model32(1.0);
    let mut opt = Stateful {
        state: [1.0f32, 2.0],
        count: 1,
    };
    let mut fresh = model32(0.0).0;
    assert_eq!(store.restore(&mut fresh, &mut opt), Ok(Restored::Empty));
    assert_eq!(store.latest(), Ok(None));
    assert_eq!(store.slots(), Ok([Slot::Erased; 2]));
    assert_eq!(
        values(&fresh),
        values(&model32(0.0).0),
        "empty store: unchanged"
    );

    let mut saved = Vec::new();
    for k in 1..=5u32 {
        g.assign_slice(w, &[k as f32, 2.0, 3.0, 4.0, 5.0, 6.0])
            .unwrap();
        opt.count = k * 10;
        assert_eq!(store.save(&g, &opt), Ok(k));
        saved.push(values(&g));
        let slots = [store.slot(0).unwrap(), store.slot(1).unwrap()];
        // Save k went into slot (k - 1) % 2; the other slot keeps save k - 1.
        let this = slots[(k as usize - 1) % 2].info().unwrap();
        assert_eq!(this.sequence, k);
        assert_eq!(this.update_count, k * 10);
        if k > 1 {
            assert_eq!(slots[k as usize % 2].info().unwrap().sequence, k - 1);
        }
        let mut opt2 = Stateful {
            state: [0.0f32; 2],
            count: 0,
        };
        assert_eq!(
            store.restore(&mut fresh, &mut opt2).map(|r| r.sequence()),
            Ok(Some(k))
        );
        assert_eq!(values(&fresh), values(&g));
        assert_eq!(opt2.count, k * 10);
    }
    // Nothing outside the two slots was touched.
    let flash = store.into_inner();
    assert!(flash.bytes()[..256].iter().all(|&b| b == 0xFF));
    assert!(flash.bytes()[256 + 1024..].iter().all(|&b| b == 0xFF));
}

#[test]
fn store_refuses_before_touching_the_flash() {
    let mut store = Store::new(Flash::new(), 0, 256).unwrap();
    let (g, _, _) = model32(1.0);
    let opt = GradientDescent::new(0.5f32);
    store.save(&g, &opt).unwrap();
    let before = store.flash_mut().bytes().to_vec();
    let ops = store.flash_mut().operations();
    // Too big for a 256-byte slot: 200 scalars.
    let mut big: StdGraph<f32, 2, 512> = StdGraph::new();
    big.variable(&Matrix::<f32, 10, 20>::splat(1.0)).unwrap();
    assert_eq!(
        Store::<Flash>::bytes_needed(&big, &opt),
        Ok(Store::<Flash>::slot_bytes_for(40 + 4 + 800 + 4))
    );
    assert_eq!(
        store.save(&big, &opt),
        Err(Error::TooSmall {
            what: "checkpoint slot (bytes)",
            needed: Store::<Flash>::slot_bytes_for(40 + 4 + 800 + 4),
            available: 256,
        })
    );
    // Non-finite optimizer state.
    let nan = Stateful {
        state: [f32::NAN],
        count: 0,
    };
    assert_eq!(
        store.save(&g, &nan),
        Err(Error::non_finite_in(Origin::Checkpoint))
    );
    assert_eq!(store.flash_mut().bytes(), &before[..]);
    assert_eq!(store.flash_mut().operations(), ops);
}

#[test]
fn store_reports_flash_errors() {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let (g, _, _) = model32(1.0);
    let opt = GradientDescent::new(0.5f32);
    store.save(&g, &opt).unwrap();
    store.flash_mut().cut_power_after(3, CutMode::Clean, 1);
    assert_eq!(store.save(&g, &opt), Err(Error::Storage));
    assert_eq!(
        store.last_flash_error(),
        Some(embedded_storage::nor_flash::NorFlashErrorKind::Other)
    );
    // Power still off: reading fails too, and says so.
    let (mut h, _, _) = model32(0.0);
    assert_eq!(
        store.restore(&mut h, &mut GradientDescent::new(0.5)),
        Err(RestoreError::Storage)
    );
    store.flash_mut().power_on();
    assert_eq!(
        store
            .restore(&mut h, &mut GradientDescent::new(0.5))
            .map(|r| r.sequence()),
        Ok(Some(1))
    );
    assert_eq!(values(&h), values(&g));
    store.erase_all().unwrap();
    assert_eq!(store.latest(), Ok(None));
}

#[test]
fn the_commit_unit_tells_incomplete_from_damaged() {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let (g, _, _) = model32(1.0);
    let opt = GradientDescent::new(0.5f32);
    store.save(&g, &opt).unwrap();
    let at = 512 - 4; // the last unit of the slot, whatever the record's length
    assert_eq!(&store.flash_mut().bytes()[at..at + 4], b"DONE");
    let good = store.flash_mut().clone();
    assert!(matches!(store.slot(0), Ok(Slot::Valid(_))));
    assert_eq!(store.slot(1), Ok(Slot::Erased));
    // A damaged marker in front of an intact record: the commit had begun, the record counts.
    store.flash_mut().bytes_mut()[at + 1] = b'0';
    assert!(matches!(store.slot(0), Ok(Slot::Valid(_))));
    // An erased marker: the save never got to commit.
    store.flash_mut().bytes_mut()[at..at + 4].fill(0xFF);
    assert_eq!(store.slot(0), Ok(Slot::Incomplete));
    assert_eq!(store.latest(), Ok(None));
    let (mut h, _, _) = model32(0.0);
    let before = values(&h);
    assert_eq!(
        store.restore(&mut h, &mut GradientDescent::new(0.5)),
        Ok(Restored::Empty)
    );
    // A damaged record behind a written marker: damaged, not empty, and nothing changes.
    *store.flash_mut() = good.clone();
    store.flash_mut().bytes_mut()[50] ^= 0x10;
    assert_eq!(store.slot(0), Ok(Slot::Damaged));
    assert_eq!(store.latest(), Err(RestoreError::Damaged));
    assert_eq!(
        store.restore(&mut h, &mut GradientDescent::new(0.5)),
        Err(RestoreError::Damaged)
    );
    assert_eq!(values(&h), before);
    // ... and a save does not go over it while the other slot is free.
    assert_eq!(store.save(&g, &opt), Ok(1));
    assert_eq!(store.slot(0), Ok(Slot::Damaged));
    let r = store
        .restore(&mut h, &mut GradientDescent::new(0.5))
        .unwrap();
    assert!(matches!(
        r,
        Restored::Checkpoint {
            other_damaged: true,
            ..
        }
    ));
    // Garbage that never held a record is an incomplete slot, not a damaged one.
    *store.flash_mut() = Flash::new();
    store.flash_mut().bytes_mut()[..100].fill(0x00);
    assert_eq!(store.slot(0), Ok(Slot::Incomplete));
    assert_eq!(store.latest(), Ok(None));
    assert_eq!(store.slot(2), Err(Error::InvalidArgument));
}

#[test]
fn sequence_numbers_wrap() {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let (g, _, _) = model32(1.0);
    let opt = GradientDescent::new(0.5f32);
    // Put a record with sequence u32::MAX into slot 0 by hand.
    let mut rec = [0xFFu8; 512];
    save_to_slice(&g, &opt, u32::MAX, &mut rec).unwrap();
    rec[512 - 4..].copy_from_slice(b"DONE");
    store.flash_mut().write(0, &rec).unwrap();
    assert_eq!(store.latest().unwrap().map(|i| i.sequence), Some(u32::MAX));
    assert_eq!(store.save(&g, &opt), Ok(0));
    assert_eq!(store.save(&g, &opt), Ok(1));
    assert_eq!(store.latest().unwrap().map(|i| i.sequence), Some(1));
}

#[test]
fn store_works_with_other_word_and_sector_sizes() {
    fn check<const W: usize, const E: usize>() {
        let mut store = Store::new(SimFlash::<8192, W, E>::new(), 0, 4096).unwrap();
        let (mut g, w, _) = model32(1.0);
        let opt = Stateful {
            state: [3.0f32; 2],
            count: 2,
        };
        for k in 1..4 {
            g.assign_slice(w, &[k as f32; 6]).unwrap();
            assert_eq!(store.save(&g, &opt), Ok(k));
        }
        let (mut h, _, _) = model32(0.0);
        let mut o = Stateful {
            state: [0.0f32; 2],
            count: 0,
        };
        assert_eq!(
            store.restore(&mut h, &mut o).map(|r| r.sequence()),
            Ok(Some(3))
        );
        assert_eq!(values(&h), values(&g));
    }
    check::<1, 256>();
    check::<2, 512>();
    check::<8, 1024>();
    check::<16, 4096>();
    check::<32, 2048>();
    check::<64, 4096>();
}

#[test]
fn optimizer_fingerprints_tell_kinds_and_settings_apart() {
    use crate::{Adam, Momentum};
    let prints = [
        GradientDescent::new(0.1f32).fingerprint(),
        Momentum::<f32, 4>::new(0.1, 0.9).fingerprint(),
        Momentum::<f32, 4>::new(0.1, 0.8).fingerprint(),
        Momentum::<f32, 4>::nesterov(0.1, 0.9).fingerprint(),
        Adam::<f32, 2>::new(0.1).fingerprint(),
        Adam::<f32, 2>::with(0.1, 0.8, 0.999, 1e-8).fingerprint(),
        Adam::<f32, 2>::with(0.1, 0.9, 0.99, 1e-8).fingerprint(),
        Adam::<f32, 2>::with(0.1, 0.9, 0.999, 1e-7).fingerprint(),
        Stateful::<f32, 1> {
            state: [0.0],
            count: 0,
        }
        .fingerprint(),
    ];
    for (i, a) in prints.iter().enumerate() {
        for b in &prints[i + 1..] {
            assert_ne!(a, b, "{prints:x?}");
        }
    }
    // The learning rate is not a setting a checkpoint is matched on (schedules change it).
    assert_eq!(
        Adam::<f32, 2>::new(0.1).fingerprint(),
        Adam::<f32, 2>::new(0.01).fingerprint()
    );
    assert_eq!(
        GradientDescent::new(0.1f32).fingerprint(),
        GradientDescent::new(0.5f32).fingerprint()
    );
}

#[test]
fn model_fingerprints_see_structure_not_batch_size() {
    fn net<const B: usize>(relu: bool) -> StdGraph<f32, 8, 128> {
        let mut g = StdGraph::new();
        let x = g.placeholder::<B, 3>().unwrap();
        let w = g.variable(&Matrix::<f32, 3, 2>::splat(0.5)).unwrap();
        let h = g.matmul(x, w).unwrap();
        let a = if relu { g.relu(h) } else { g.tanh(h) }.unwrap();
        g.reduce_sum(a).unwrap();
        g
    }
    assert_eq!(
        model_fingerprint(&net::<4>(true)),
        model_fingerprint(&net::<1>(true))
    );
    assert_ne!(
        model_fingerprint(&net::<4>(true)),
        model_fingerprint(&net::<4>(false))
    );
    let mut g64: StdGraph<f64, 8, 128> = StdGraph::new();
    let x = g64.placeholder::<4, 3>().unwrap();
    let w = g64.variable(&Matrix::<f64, 3, 2>::splat(0.5)).unwrap();
    let h = g64.matmul(x, w).unwrap();
    let a = g64.relu(h).unwrap();
    g64.reduce_sum(a).unwrap();
    assert_ne!(model_fingerprint(&g64), model_fingerprint(&net::<4>(true)));

    // Same variable shapes, another activation: refused, nothing changes.
    let g = net::<4>(true);
    let mut buf = [0u8; 128];
    let n = save_to_slice(&g, &GradientDescent::new(0.1), 1, &mut buf).unwrap();
    let mut other = net::<4>(false);
    other
        .assign_slice(other.node_at(1).unwrap(), &[1.0; 6])
        .unwrap();
    assert_eq!(
        restore_from_slice(&mut other, &mut GradientDescent::new(0.1), &buf[..n]),
        Err(RestoreError::OtherModel {
            expected: model_fingerprint(&other).unwrap(),
            found: model_fingerprint(&g).unwrap(),
        })
    );
    assert_eq!(values(&other), [1.0; 6]);
    // The same network built for single samples restores.
    let mut one = net::<1>(true);
    assert!(restore_from_slice(&mut one, &mut GradientDescent::new(0.1), &buf[..n]).is_ok());
    assert_eq!(values(&one), [0.5; 6]);
}

/// A version-1 record (the previous format: 32-byte header, no fingerprints) of `model32`.
fn v1_record(g: &G32) -> Vec<u8> {
    let vals = values(g);
    let len = 32 + 2 * 4 + 4 * vals.len() + 4;
    let mut r = Vec::new();
    r.extend_from_slice(b"EGCK");
    r.extend_from_slice(&1u16.to_le_bytes());
    r.extend_from_slice(&[4, 0]);
    for v in [1u32, 2, vals.len() as u32, 0, 0, len as u32] {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(&[2, 0, 3, 0, 1, 0, 3, 0]);
    for v in vals {
        r.extend_from_slice(&v.to_le_bytes());
    }
    let crc = crc_ref(&r);
    r.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(r.len(), len);
    r
}

#[test]
fn version_1_records_are_refused_as_another_format() {
    let (g, _, _) = model32(1.0);
    let rec = v1_record(&g);
    let (mut h, _, _) = model32(0.0);
    let mut opt = Stateful {
        state: [0.0f32; 2],
        count: 0,
    };
    assert_eq!(inspect(&rec), Err(RestoreError::OtherFormat { version: 1 }));
    refused(
        &mut h,
        &mut opt,
        &rec,
        RestoreError::OtherFormat { version: 1 },
    );
    // In flash, where version 1 put its commit marker right after the record.
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let at = rec.len().div_ceil(4) * 4;
    store.flash_mut().bytes_mut()[..rec.len()].copy_from_slice(&rec);
    store.flash_mut().bytes_mut()[at..at + 4].copy_from_slice(b"DONE");
    assert_eq!(store.slot(0), Ok(Slot::OtherFormat { version: 1 }));
    assert_eq!(
        store.latest(),
        Err(RestoreError::OtherFormat { version: 1 })
    );
    let before = values(&h);
    let mut gd = GradientDescent::new(0.5f32);
    assert_eq!(
        store.restore(&mut h, &mut gd),
        Err(RestoreError::OtherFormat { version: 1 })
    );
    assert_eq!(values(&h), before);
    assert_eq!(
        RestoreError::OtherFormat { version: 1 }.to_string(),
        "checkpoint: a record of format version 1, this code reads version 2"
    );
    assert_eq!(
        RestoreError::OtherFormat { version: 1 }.into_error(),
        Error::Corrupt
    );
}

#[test]
fn restore_buffered_reads_once_and_checks_the_second_read() {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let (g, _, _) = model32(1.5);
    let opt = Stateful {
        state: [4.0f32, 5.0],
        count: 8,
    };
    store.save(&g, &opt).unwrap();
    let len = encoded_len(&g, &opt).unwrap();
    let (mut h, _, _) = model32(0.0);
    let mut o = Stateful {
        state: [0.0f32; 2],
        count: 0,
    };
    let before = values(&h);
    let mut small = [0u8; 64];
    assert_eq!(
        store.restore_buffered(&mut h, &mut o, &mut small),
        Err(RestoreError::Mismatch(Error::LengthMismatch {
            expected: len,
            found: 64
        }))
    );
    // A bit flipped in the copy read: refused as a storage fault, nothing changed.
    let mut buf = [0u8; 256];
    let reads = store.flash_mut().reads();
    store.slots().unwrap();
    let classify = store.flash_mut().reads() - reads;
    store
        .flash_mut()
        .fail_reads(classify, 1, ReadFault::FlipBit);
    assert_eq!(
        store.restore_buffered(&mut h, &mut o, &mut buf),
        Err(RestoreError::Storage)
    );
    assert_eq!((values(&h), o.state, o.count), (before, [0.0; 2], 0));
    let r = store.restore_buffered(&mut h, &mut o, &mut buf).unwrap();
    assert_eq!(r.sequence(), Some(1));
    assert_eq!((values(&h), o.state, o.count), (values(&g), [4.0, 5.0], 8));
}

#[test]
fn a_damaged_slot_read_differently_twice_is_a_storage_fault() {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let (g, _, _) = model32(1.0);
    store.save(&g, &GradientDescent::new(0.5f32)).unwrap();
    // The first read of slot 0 returns one bit flipped: it looks damaged, then intact.
    store.flash_mut().fail_reads(0, 1, ReadFault::FlipBit);
    assert_eq!(store.slots(), Err(Error::Storage));
    assert!(matches!(store.slots(), Ok([Slot::Valid(_), Slot::Erased])));
}

#[test]
fn weights_restore_without_the_optimizer_that_saved_them() {
    let (g, _, _) = model32(3.0);
    let rec = saved32(&g, [7.0, 8.0]);
    let (mut h, _, _) = model32(0.0);
    // A full restore with another optimizer is refused and changes nothing …
    let before = values(&h);
    assert!(matches!(
        restore_from_slice(&mut h, &mut GradientDescent::new(0.1f32), &rec),
        Err(RestoreError::Mismatch(Error::LengthMismatch { .. }))
    ));
    assert_eq!(values(&h), before);
    // … the weights alone restore.
    let info = restore_weights_from_slice(&mut h, &rec).unwrap();
    assert_eq!(info.state_scalars, 2);
    assert_eq!(values(&h), values(&g));

    // Still refused: damage, another model, another scalar type.
    let mut bad = rec.clone();
    let k = bad.len() - 6;
    bad[k] ^= 1;
    let (mut h, _, _) = model32(0.0);
    assert_eq!(
        restore_weights_from_slice(&mut h, &bad),
        Err(RestoreError::Damaged)
    );
    assert_eq!(values(&h), values(&model32(0.0).0));
    let mut other = G32::new();
    other
        .variable(&Matrix::new([[0.0f32, 0.0, 0.0], [0.0, 0.0, 0.0]]))
        .unwrap();
    let _x = other.placeholder::<1, 3>().unwrap(); // another placeholder width
    other.variable(&Matrix::new([[0.0f32, 0.0, 0.0]])).unwrap();
    assert!(matches!(
        restore_weights_from_slice(&mut other, &rec),
        Err(RestoreError::OtherModel { .. })
    ));
    let mut g64: StdGraph<f64, 8, 64> = StdGraph::new();
    g64.variable(&Matrix::new([[0.0f64, 0.0, 0.0], [0.0, 0.0, 0.0]]))
        .unwrap();
    let _x = g64.placeholder::<1, 2>().unwrap();
    g64.variable(&Matrix::new([[0.0f64, 0.0, 0.0]])).unwrap();
    assert!(matches!(
        restore_weights_from_slice(&mut g64, &rec),
        Err(RestoreError::OtherScalarType { .. })
    ));

    // From flash.
    let mut store = Store::new(Flash::new(), 256, 512).unwrap();
    let (mut h, _, _) = model32(0.0);
    assert_eq!(store.restore_weights(&mut h), Ok(Restored::Empty));
    let opt = Stateful {
        state: [1.0f32, 2.0],
        count: 5,
    };
    store.save(&g, &opt).unwrap();
    assert_eq!(
        store.restore_weights(&mut h).map(|r| r.sequence()),
        Ok(Some(1))
    );
    assert_eq!(values(&h), values(&g));
}

#[test]
fn state_saved_with_other_variables_frozen_is_refused() {
    let (mut g, w, _) = model32(1.0);
    g.set_trainable(w, false).unwrap();
    let opt = Stateful {
        state: [1.0f32, 2.0],
        count: 1,
    };
    let mut buf = [0u8; 256];
    let n = save_to_slice(&g, &opt, 1, &mut buf).unwrap();
    let rec = &buf[..n];
    // The same graph, the same freezing: restores.
    let mut same = model32(0.0);
    same.0.set_trainable(same.1, false).unwrap();
    let mut o = Stateful {
        state: [0.0f32; 2],
        count: 0,
    };
    restore_from_slice(&mut same.0, &mut o, rec).unwrap();
    assert_eq!(o.state, [1.0, 2.0]);
    // Nothing frozen (or the other variable frozen): the state would land elsewhere.
    for freeze_b in [false, true] {
        let (mut h, _, b) = model32(0.0);
        if freeze_b {
            h.set_trainable(b, false).unwrap();
        }
        let mut o = Stateful {
            state: [0.0f32; 2],
            count: 0,
        };
        assert!(matches!(
            restore_from_slice(&mut h, &mut o, rec),
            Err(RestoreError::OtherOptimizer { .. })
        ));
        assert_eq!(o.state, [0.0, 0.0]);
        // The weights do not depend on it.
        restore_weights_from_slice(&mut h, rec).unwrap();
        assert_eq!(values(&h), values(&g));
    }
}
