//! Arbitrary bytes into checkpoint restore: as a record in memory, as a record whose CRC the
//! target repairs (so the checks behind the CRC are reached too), and as the contents of a
//! simulated flash holding two slots, followed by a save that may lose power at any operation.
//!
//! Invariants: restore never panics; whenever it fails the graph and optimizer are unchanged;
//! a record refused as damaged or of another format is refused so by `inspect` too; whatever it
//! accepts is canonical (saving the restored model again gives the same bytes); a store reports
//! "empty" exactly when `latest` finds nothing and no slot is damaged; from any flash contents
//! a save works and is then restored; a cut save restores the old or the new model.

#![no_main]

use embedded_storage::nor_flash::NorFlash;
use embedgrad_core::{Error, Graph, Matrix, Op, Origin, Scalar};
use embedgrad_ops::prelude::*;
use embedgrad_train::checkpoint::sim::{CutMode, SimFlash};
use embedgrad_train::checkpoint::{self, RestoreError, Restored, Store};
use embedgrad_train::Optimizer;
use libfuzzer_sys::fuzz_target;

/// An optimizer with two scalars of state and a count.
#[derive(Clone, Debug, PartialEq)]
struct Opt<T> {
    state: [T; 2],
    count: u32,
}

impl<T: Scalar> Optimizer<T> for Opt<T> {
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

type G<T> = StdGraph<T, 8, 64>;

/// Two variables, 2×3 and 1×2, with a placeholder between them.
fn model<T: Scalar>(v: f64) -> (G<T>, Opt<T>) {
    let mut g = G::<T>::new();
    g.variable(&Matrix::<T, 2, 3>::splat(T::from_f64(v)))
        .unwrap();
    g.placeholder::<1, 2>().unwrap();
    g.variable(&Matrix::<T, 1, 2>::splat(T::from_f64(-v)))
        .unwrap();
    let opt = Opt {
        state: [T::from_f64(v * 2.0); 2],
        count: 5,
    };
    (g, opt)
}

fn fingerprint<T: Scalar>(g: &G<T>, o: &Opt<T>) -> (Vec<u64>, Vec<u64>, u32) {
    let vals = g
        .variables()
        .flat_map(|id| g.value_slice(id).unwrap().to_vec())
        .map(|v| v.to_f64().to_bits())
        .collect();
    (
        vals,
        o.state.iter().map(|v| v.to_f64().to_bits()).collect(),
        o.count,
    )
}

/// `EMBEDGRAD_FUZZ_TRACE=1` prints what each case did (to read what a corpus file does).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("EMBEDGRAD_FUZZ_TRACE").is_some())
}

/// Restores `bytes` into a model; checks the invariants; returns whether it was accepted.
fn restore_bytes<T: Scalar>(bytes: &[u8]) -> bool {
    let (mut g, mut o) = model::<T>(0.5);
    let before = fingerprint(&g, &o);
    let inspected = checkpoint::inspect(bytes);
    let r = checkpoint::restore_from_slice(&mut g, &mut o, bytes);
    if trace() {
        eprintln!(
            "{} bytes as {}: inspect {inspected:?}, restore {r:?}",
            bytes.len(),
            T::NAME
        );
    }
    match r {
        Ok(info) => {
            assert_eq!(inspected, Ok(info));
            assert!(info.finite);
            // Canonical: saving what was restored gives back the same record.
            let mut again = vec![0u8; info.len as usize];
            let n = checkpoint::save_to_slice(&g, &o, info.sequence, &mut again).unwrap();
            assert_eq!(&again[..n], &bytes[..n]);
            true
        }
        Err(e) => {
            assert_eq!(fingerprint(&g, &o), before, "{e}");
            if let Ok(info) = inspected {
                // Intact but not for this graph.
                assert!(
                    matches!(
                        e,
                        RestoreError::OtherScalarType { .. }
                            | RestoreError::OtherModel { .. }
                            | RestoreError::OtherOptimizer { .. }
                            | RestoreError::Mismatch(
                                Error::LengthMismatch { .. } | Error::ShapeMismatch { .. }
                            )
                    ) || (!info.finite
                        && e == RestoreError::Mismatch(Error::non_finite_in(Origin::Checkpoint))),
                    "{e}"
                );
            } else {
                assert_eq!(Err(e), inspected);
                assert!(matches!(
                    e,
                    RestoreError::Damaged | RestoreError::OtherFormat { .. }
                ));
            }
            false
        }
    }
}

/// Writes a correct CRC over `bytes[..len - 4]`, `len` taken from the header.
fn repair_crc(bytes: &mut [u8]) {
    if bytes.len() < 32 {
        return;
    }
    let len = u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]) as usize;
    if (36..=bytes.len()).contains(&len) {
        let crc = checkpoint::crc32(&bytes[..len - 4]);
        bytes[len - 4..len].copy_from_slice(&crc.to_le_bytes());
    }
}

type Flash = SimFlash<2048, 4, 256>;

fn flash_case(mode: u8, rest: &[u8]) {
    let (cut, data) = match rest.split_first() {
        Some((&k, data)) if k < 128 => (Some(k % 32), data),
        Some((_, data)) => (None, data),
        None => (None, rest),
    };
    let mut flash = Flash::new();
    let n = data.len().min(2048);
    flash.bytes_mut()[..n].copy_from_slice(&data[..n]);
    if mode == 5 && n > 0 {
        // Help the fuzzer: write the commit marker into each slot's last unit and repair the
        // CRC of a record of the claimed length.
        for slot in 0..2 {
            let s = slot * 1024;
            flash.bytes_mut()[s + 1020..s + 1024].copy_from_slice(&checkpoint::COMMIT);
            if let Some(h) = flash.bytes().get(s + 28..s + 32) {
                let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
                let end = len.min(1024);
                if end >= 36 {
                    let crc = checkpoint::crc32(&flash.bytes()[s..s + end - 4]);
                    flash.bytes_mut()[s + end - 4..s + end].copy_from_slice(&crc.to_le_bytes());
                }
            }
        }
    }
    let mut store = Store::new(flash, 0, 1024).unwrap();
    let (mut g, mut o) = model::<f32>(0.25);
    let before = fingerprint(&g, &o);
    let latest = store.latest();
    let slots = store.slots().unwrap();
    let r = store.restore(&mut g, &mut o);
    if trace() {
        eprintln!("flash: slots {slots:?}, latest {latest:?}, restore {r:?}, cut {cut:?}");
    }
    let old = match r {
        Ok(Restored::Checkpoint {
            info,
            other_damaged,
        }) => {
            assert_eq!(latest, Ok(Some(info)));
            assert_eq!(other_damaged, slots.iter().any(|s| s.is_damaged()));
            Some((info.sequence, fingerprint(&g, &o)))
        }
        Ok(Restored::Empty) => {
            assert_eq!(latest, Ok(None));
            assert!(slots.iter().all(|s| s.info().is_none() && !s.is_damaged()));
            assert_eq!(fingerprint(&g, &o), before);
            None
        }
        Err(e) => {
            assert_ne!(latest, Ok(None), "{e}");
            assert_ne!(e, RestoreError::CopyFailed);
            assert_eq!(fingerprint(&g, &o), before, "{e}");
            // The newest checkpoint does not fit this model: start afresh.
            store.erase_all().unwrap();
            None
        }
    };
    // Whatever the flash held, a save works — even one cut short at any operation.
    let (mut g2, o2) = model::<f32>(0.75);
    g2.assign_slice(g2.node_at(0).unwrap(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .unwrap();
    let new_print = fingerprint(&g2, &o2);
    if let Some(k) = cut {
        let modes = [CutMode::Clean, CutMode::Partial, CutMode::Garbage];
        store
            .flash_mut()
            .cut_power_after(u32::from(k), modes[usize::from(k % 3)], u64::from(k));
    }
    let saved = store.save(&g2, &o2);
    store.flash_mut().power_on();
    let (mut g3, mut o3) = model::<f32>(-3.0);
    let got = store.restore(&mut g3, &mut o3).unwrap().sequence();
    if trace() {
        eprintln!("flash: save {saved:?}, then restore {got:?}");
    }
    let new_seq = old.as_ref().map_or(1, |(s, _)| s.wrapping_add(1));
    match saved {
        Ok(seq) => {
            assert_eq!(seq, new_seq);
            assert_eq!((got, fingerprint(&g3, &o3)), (Some(seq), new_print));
        }
        Err(e) => {
            assert!(cut.is_some(), "an uncut save failed: {e}");
            let now = got.map(|s| (s, fingerprint(&g3, &o3)));
            assert!(
                now == old || now == Some((new_seq, new_print)),
                "a mix after a cut: {now:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 6 {
        0 => {
            restore_bytes::<f32>(rest);
        }
        1 => {
            restore_bytes::<f64>(rest);
        }
        2 | 3 => {
            let mut b = rest.to_vec();
            repair_crc(&mut b);
            if mode % 6 == 2 {
                restore_bytes::<f32>(&b);
            } else {
                restore_bytes::<f64>(&b);
            }
        }
        m => flash_case(m, rest),
    }
    // The flash write path itself: writes the fuzzer chose, never a panic.
    if mode & 0x80 != 0 {
        let mut f = Flash::new();
        for w in rest.chunks(8).take(16) {
            let off = u32::from(w[0]) * 4;
            let _ = f.write(off, &w[1..w.len().min(5)]);
            let _ = f.erase(off & !255, (off & !255) + 256);
        }
    }
});
