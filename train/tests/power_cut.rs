//! Power cuts and bit flips against the two-slot checkpoint store.
//!
//! A full save is counted operation by operation (each programmed word, each erased sector).
//! Then, from the same starting flash, the save is repeated with the power cut after `k`
//! operations for every `k` from 0 to that count, the interrupted word or sector left clean,
//! half programmed or as garbage. After each cut the model is restored into a graph holding a
//! third, unrelated model and must be *exactly* the old checkpoint or the new one — bit for bit,
//! variables, optimizer state and update count — and the old slot must be byte-for-byte
//! untouched. Then the refusals: a checkpoint of another model with the same shapes, of another
//! optimizer or other optimizer settings, a flipped bit in the only valid slot (damaged, never
//! "no checkpoint"), and read faults at every read of a restore — each leaving the model as it
//! was. Run with `--nocapture` to see the counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use embedgrad_core::{Error, Graph, Matrix, NodeId, Op, Scalar, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_train::checkpoint::sim::{CutMode, ReadFault, SimFlash};
use embedgrad_train::checkpoint::{self, RestoreError, Restored, Store};
use embedgrad_train::{minimize, Adam, Optimizer, SplitMix64};

/// Heavy-ball momentum with its velocity as checkpointed state.
struct Momentum<T, const P: usize> {
    lr: T,
    velocity: [T; P],
    count: u32,
}

impl<T: Scalar, const P: usize> Optimizer<T> for Momentum<T, P> {
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        let (lr, beta) = (self.lr, T::from_f64(0.9));
        let vel = &mut self.velocity;
        g.for_each_variable(|v| {
            let state = vel
                .get_mut(v.offset..v.offset + v.value.len())
                .ok_or(Error::InvalidArgument)?;
            for ((w, &d), m) in v.value.iter_mut().zip(v.grad).zip(state) {
                *m = beta * *m + d;
                *w -= lr * *m;
            }
            Ok(())
        })?;
        self.count += 1;
        Ok(())
    }
    fn state(&self) -> &[T] {
        &self.velocity
    }
    fn state_mut(&mut self) -> &mut [T] {
        &mut self.velocity
    }
    fn update_count(&self) -> u32 {
        self.count
    }
    fn set_update_count(&mut self, c: u32) {
        self.count = c;
    }
}

const P: usize = 3 * 8 + 8 + 8 * 2 + 2; // 50 parameters

/// A 3-8-2 classifier on a 4-row batch.
struct Model<T: Scalar> {
    g: Box<StdGraph<T, 16, 512>>,
    opt: Momentum<T, P>,
    loss: Tensor<1, 1>,
}

impl<T: Scalar> Model<T> {
    fn new(seed: u64) -> Self {
        Self::build(seed, false)
    }

    /// The same net with `relu` for `tanh` when `relu`: the same variable shapes.
    fn build(seed: u64, relu: bool) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut r = || T::from_f64(rng.normal() * 0.5);
        let mut g: Box<StdGraph<T, 16, 512>> = Box::new(StdGraph::new());
        let x = g.placeholder::<4, 3>().unwrap();
        let y = g.placeholder::<4, 2>().unwrap();
        let w1 = g.variable(&Matrix::<T, 3, 8>::from_fn(|_, _| r())).unwrap();
        let b1 = g.variable(&Matrix::<T, 1, 8>::from_fn(|_, _| r())).unwrap();
        let w2 = g.variable(&Matrix::<T, 8, 2>::from_fn(|_, _| r())).unwrap();
        let b2 = g.variable(&Matrix::<T, 1, 2>::from_fn(|_, _| r())).unwrap();
        let h = g.matmul(x, w1).unwrap();
        let h = g.add(h, b1).unwrap();
        let h = if relu { g.relu(h) } else { g.tanh(h) }.unwrap();
        let o = g.matmul(h, w2).unwrap();
        let o = g.add(o, b2).unwrap();
        let loss = g.softmax_cross_entropy(o, y).unwrap();
        g.feed(
            x,
            &Matrix::from_fn(|i, j| T::from_f64((i * 3 + j) as f64 / 6.0 - 1.0)),
        )
        .unwrap();
        g.feed(
            y,
            &Matrix::from_fn(|i, j| T::from_usize(usize::from(i % 2 == j))),
        )
        .unwrap();
        let velocity = [(); P].map(|_| r());
        Self {
            g,
            opt: Momentum {
                lr: T::from_f64(0.05),
                velocity,
                count: seed as u32,
            },
            loss,
        }
    }

    fn step(&mut self) {
        minimize(&mut self.opt, &mut self.g, self.loss).unwrap();
    }

    fn snapshot(&self) -> Snapshot {
        let bits = |v: T| v.to_f64().to_bits();
        Snapshot {
            values: self
                .g
                .variables()
                .flat_map(|id: NodeId| self.g.value_slice(id).unwrap().iter().map(|&v| bits(v)))
                .collect(),
            state: self.opt.velocity.iter().map(|&v| bits(v)).collect(),
            count: self.opt.count,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    values: Vec<u64>,
    state: Vec<u64>,
    count: u32,
}

/// What the store restores, into a model that holds neither the old nor the new values.
fn restored<T: Scalar, F: embedded_storage::nor_flash::NorFlash>(
    store: &mut Store<F>,
) -> Option<(u32, Snapshot)> {
    let mut m = Model::<T>::new(0xDEAD);
    let before = m.snapshot();
    match store.restore(&mut m.g, &mut m.opt).unwrap() {
        Restored::Checkpoint { info, .. } => Some((info.sequence, m.snapshot())),
        Restored::Empty => {
            assert_eq!(m.snapshot(), before, "no checkpoint: nothing may change");
            None
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    cut_points: usize,
    cases: usize,
    old: usize,
    new: usize,
}

const MODES: [(CutMode, u64); 5] = [
    (CutMode::Clean, 0),
    (CutMode::Partial, 1),
    (CutMode::Partial, 2),
    (CutMode::Garbage, 3),
    (CutMode::Garbage, 4),
];

/// Three saves in a row (into an empty store, then into each slot in turn), each one swept
/// with a cut at every operation.
fn sweep<T: Scalar, const SIZE: usize, const W: usize, const E: usize>(
    slot_len: u32,
    tally: &mut Tally,
) {
    let mut store = Store::new(SimFlash::<SIZE, W, E>::new(), 0, slot_len).unwrap();
    let mut model = Model::<T>::new(7);
    let record = checkpoint::encoded_len(&model.g, &model.opt).unwrap();
    let unit = W.max(4);
    let mut old: Option<(u32, Snapshot)> = None;
    for phase in 0..3u32 {
        model.step();
        let new = model.snapshot();
        let pre = store.flash_mut().clone();
        let old_slot = (phase as usize + 1) % 2; // the slot holding `old` (none in phase 0)
        let old_bytes = |f: &SimFlash<SIZE, W, E>| {
            let s = old_slot * slot_len as usize;
            f.bytes()[s..s + slot_len as usize].to_vec()
        };
        let ops0 = store.flash_mut().operations();
        assert_eq!(store.save(&model.g, &model.opt), Ok(phase + 1));
        let count = (store.flash_mut().operations() - ops0) as usize;
        // Erase every sector of the slot, program every word of the padded record, then the
        // commit unit.
        let padded = record.div_ceil(unit) * unit;
        assert_eq!(count, slot_len as usize / E + padded / W + unit / W);
        let post = store.flash_mut().clone();

        for k in 0..=count {
            tally.cut_points += 1;
            for (mode, seed) in MODES {
                *store.flash_mut() = pre.clone();
                store
                    .flash_mut()
                    .cut_power_after(k as u32, mode, seed ^ (k as u64) << 8);
                let r = store.save(&model.g, &model.opt);
                if k < count {
                    assert_eq!(r, Err(Error::Storage), "k={k}");
                } else {
                    assert_eq!(r, Ok(phase + 1));
                }
                store.flash_mut().power_on();
                if phase > 0 {
                    assert_eq!(
                        old_bytes(store.flash_mut()),
                        old_bytes(&pre),
                        "the old slot was written (k={k}, {mode:?})"
                    );
                }
                let got = restored::<T, _>(&mut store);
                let is_new = got.as_ref() == Some(&(phase + 1, new.clone()));
                let is_old = got == old;
                assert!(
                    is_old || is_new,
                    "a mix after a cut at {k} ({mode:?}): {got:?}"
                );
                // Only a cut while the commit unit is written may already count as done.
                if k + unit / W < count {
                    assert!(is_old, "k={k} {mode:?}: new before the commit marker");
                }
                if k == count {
                    assert!(is_new);
                }
                tally.cases += 1;
                if is_new {
                    tally.new += 1;
                } else {
                    tally.old += 1;
                }
                // The device carries on: the next save after the cut works and is restored.
                if k % 7 == 0 || k + 2 >= count {
                    let seq = store.save(&model.g, &model.opt).unwrap();
                    let want = if is_new { phase + 2 } else { phase + 1 };
                    assert_eq!(seq, want);
                    assert_eq!(restored::<T, _>(&mut store), Some((want, new.clone())));
                }
            }
        }
        *store.flash_mut() = post;
        old = Some((phase + 1, new));
    }
}

#[test]
#[cfg_attr(miri, ignore)] // thousands of saves: minutes under Miri
fn every_cut_during_a_save_leaves_the_old_or_the_new_model() {
    let mut t = Tally::default();
    sweep::<f32, 4096, 4, 256>(512, &mut t);
    let words4 = t.cut_points;
    sweep::<f32, 8192, 1, 128>(1024, &mut t);
    sweep::<f32, 4096, 8, 512>(1024, &mut t);
    sweep::<f32, 8192, 16, 1024>(2048, &mut t);
    sweep::<f32, 8192, 32, 4096>(4096, &mut t);
    sweep::<f64, 8192, 4, 256>(1024, &mut t);
    println!("power cuts: {t:?}");
    // 460-byte record in 4-byte words: 2 sectors + 115 words + 1 commit word, +1 for "no cut".
    assert_eq!(words4, 3 * (2 + 115 + 1 + 1));
    assert_eq!(t.cases, 5 * t.cut_points);
    assert!(t.old > 0 && t.new >= 3 * 6);
}

/// Saves interrupted at random points, restores and training steps, many times over: the
/// restored model is always the last one a save finished.
#[test]
#[cfg_attr(miri, ignore)]
fn random_cuts_in_a_row_never_lose_the_last_good_model() {
    let mut store = Store::new(SimFlash::<4096, 4, 256>::new(), 1024, 1024).unwrap();
    let mut model = Model::<f32>::new(3);
    let mut rng = SplitMix64::new(99);
    let mut committed: Option<(u32, Snapshot)> = None;
    let (mut cuts, mut saves) = (0, 0);
    for _ in 0..400 {
        if rng.below(3) == 0 {
            model.step();
        }
        let snap = model.snapshot();
        let next = committed.as_ref().map_or(1, |(s, _)| s + 1);
        if rng.below(4) == 0 {
            assert_eq!(store.save(&model.g, &model.opt), Ok(next));
            committed = Some((next, snap));
            saves += 1;
        } else {
            let mode = MODES[rng.below(5) as usize].0;
            let k = rng.below(130) as u32; // a full save is 120 operations here
            store.flash_mut().cut_power_after(k, mode, rng.next_u64());
            let r = store.save(&model.g, &model.opt);
            store.flash_mut().power_on();
            let got = restored::<f32, _>(&mut store);
            if r.is_ok() {
                assert_eq!(got, Some((next, snap.clone())));
            }
            if got == Some((next, snap.clone())) {
                committed = got;
            } else {
                assert_eq!(got, committed, "cut at {k} ({mode:?})");
            }
            cuts += 1;
        }
        assert_eq!(restored::<f32, _>(&mut store), committed);
    }
    println!("random cuts in a row: {cuts} cut saves, {saves} clean saves");
    assert!(cuts > 200 && saves > 50);
}

/// Random bit flips in the stored slots: a damaged newest slot falls back to the other one, two
/// damaged slots are reported as damaged (not as an empty store) and restore nothing, and
/// damage outside a record and its commit unit (padding) changes nothing.
#[test]
#[cfg_attr(miri, ignore)]
fn bit_flips_in_flash_are_detected() {
    const SLOT: usize = 512;
    let mut store = Store::new(SimFlash::<1024, 4, 256>::new(), 0, SLOT as u32).unwrap();
    let mut model = Model::<f32>::new(5);
    model.step();
    let first = model.snapshot();
    store.save(&model.g, &model.opt).unwrap(); // slot 0, sequence 1
    model.step();
    let second = model.snapshot();
    store.save(&model.g, &model.opt).unwrap(); // slot 1, sequence 2
    let record = checkpoint::encoded_len(&model.g, &model.opt).unwrap();
    let used = Store::<SimFlash<1024, 4, 256>>::slot_bytes_for(record);
    let good = store.flash_mut().clone();
    let mut rng = SplitMix64::new(17);
    let mut tried = 0;
    for flips in [1usize, 2, 3, 5, 16, 100] {
        for _ in 0..300 {
            *store.flash_mut() = good.clone();
            // Flip bits inside the newest slot's record and commit unit (its last word).
            for _ in 0..flips {
                let bit = rng.below(((record + 4) * 8) as u64) as usize;
                let byte = if bit / 8 < record {
                    bit / 8
                } else {
                    SLOT - 4 + (bit / 8 - record)
                };
                store.flash_mut().bytes_mut()[SLOT + byte] ^= 1 << (bit % 8);
            }
            let got = restored::<f32, _>(&mut store);
            let damaged =
                store.flash_mut().bytes()[SLOT..SLOT + record] != good.bytes()[SLOT..SLOT + record];
            if damaged {
                assert_eq!(got, Some((1, first.clone())), "{flips} flips");
                assert!(store.slot(1).unwrap().info().is_none());
            } else {
                // Flips that cancelled out, or only in the commit unit: the record is intact.
                assert_eq!(got, Some((2, second.clone())));
            }
            // Damage the other slot's record too: nothing valid is left, and that is damage,
            // not an empty store.
            let bit = rng.below((record * 8) as u64) as usize;
            store.flash_mut().bytes_mut()[bit / 8] ^= 1 << (bit % 8);
            if damaged {
                let mut m = Model::<f32>::new(0xDEAD);
                let before = m.snapshot();
                assert_eq!(
                    store.restore(&mut m.g, &mut m.opt),
                    Err(RestoreError::Damaged)
                );
                assert_eq!(m.snapshot(), before);
            }
            tried += 1;
        }
    }
    // Damage between the record and the commit unit is harmless.
    for at in record..SLOT - 4 {
        *store.flash_mut() = good.clone();
        store.flash_mut().bytes_mut()[SLOT + at] ^= 0x5A;
        assert_eq!(restored::<f32, _>(&mut store), Some((2, second.clone())));
        tried += 1;
    }
    println!("bit-flip cases: {tried}");
    assert_eq!(tried, 6 * 300 + (SLOT - 4 - record));
    assert!(used <= SLOT);
}

type Flash = SimFlash<4096, 4, 256>;

/// A store with one checkpoint (slot 0) of `Model::new(5)` after a step, or two (slot 1 the
/// newest) when `two`.
fn saved_store(two: bool) -> (Store<Flash>, Vec<Snapshot>) {
    let mut store = Store::new(Flash::new(), 0, 512).unwrap();
    let mut model = Model::<f32>::new(5);
    let mut snaps = Vec::new();
    for _ in 0..1 + usize::from(two) {
        model.step();
        store.save(&model.g, &model.opt).unwrap();
        snaps.push(model.snapshot());
    }
    (store, snaps)
}

/// Checkpoints of another model with the same variable shapes, of another optimizer, or with
/// other optimizer settings are refused, and nothing changes: neither the model nor the flash.
#[test]
#[cfg_attr(miri, ignore)]
fn checkpoints_of_other_models_and_optimizers_are_refused() {
    use embedgrad_train::Momentum as Mom;
    let mut cases = 0;
    let (mut store, _) = saved_store(true);
    let flash = store.flash_mut().clone();

    // Another model, same shapes: relu for tanh.
    let mut other = Model::<f32>::build(0xDEAD, true);
    let before = other.snapshot();
    let r = store.restore(&mut other.g, &mut other.opt);
    assert!(matches!(r, Err(RestoreError::OtherModel { .. })), "{r:?}");
    assert_eq!(other.snapshot(), before);
    cases += 1;

    // Each a checkpoint saved with the first optimizer, restored with the second (same state
    // length: 50 scalars of momentum, 2 × 25 of Adam moments).
    let m = Model::<f32>::new(9);
    let mom = Mom::<f32, P>::new(0.05, 0.9);
    let adam = Adam::<f32, 25>::new(0.01);
    macro_rules! refuse {
        ($saved:expr, $into:expr) => {{
            let mut s = Store::new(Flash::new(), 0, 512).unwrap();
            s.save(&m.g, &$saved).unwrap();
            let flash = s.flash_mut().clone();
            let mut fresh = Model::<f32>::new(0xDEAD);
            let before = fresh.snapshot();
            let mut into = $into;
            let state = into.state().to_vec();
            let r = s.restore(&mut fresh.g, &mut into);
            assert!(
                matches!(r, Err(RestoreError::OtherOptimizer { .. })),
                "{} into {}: {r:?}",
                stringify!($saved),
                stringify!($into)
            );
            assert_eq!(fresh.snapshot(), before);
            assert_eq!(into.state(), &state[..]);
            assert_eq!(s.flash_mut().bytes(), flash.bytes());
            cases += 1;
        }};
    }
    refuse!(mom, Adam::<f32, 25>::new(0.01)); // momentum into Adam
    refuse!(adam, Mom::<f32, P>::new(0.05, 0.9)); // Adam into momentum
    refuse!(mom, Mom::<f32, P>::new(0.05, 0.8)); // another μ
    refuse!(mom, Mom::<f32, P>::nesterov(0.05, 0.9)); // Nesterov
    refuse!(adam, Adam::<f32, 25>::with(0.01, 0.8, 0.999, 1e-8)); // another β1
    refuse!(adam, Adam::<f32, 25>::with(0.01, 0.9, 0.99, 1e-8)); // another β2
    refuse!(adam, Adam::<f32, 25>::with(0.01, 0.9, 0.999, 1e-7)); // another ε
    refuse!(mom, m.opt_like()); // an optimizer that declares no fingerprint
                                // The learning rate is not matched (a schedule changes it): this one restores.
    let mut s = Store::new(Flash::new(), 0, 512).unwrap();
    s.save(&m.g, &adam).unwrap();
    let mut fresh = Model::<f32>::new(0xDEAD);
    let r = s.restore(&mut fresh.g, &mut Adam::<f32, 25>::new(0.5));
    assert_eq!(r.map(|r| r.sequence()), Ok(Some(1)));
    assert_eq!(store.flash_mut().bytes(), flash.bytes());
    println!("refused checkpoints of another model or optimizer: {cases}");
    assert_eq!(cases, 9);
}

impl<T: Scalar> Model<T> {
    /// A fresh optimizer of this file's own kind (no fingerprint declared).
    fn opt_like(&self) -> Momentum<T, P> {
        Momentum {
            lr: self.opt.lr,
            velocity: [T::ZERO; P],
            count: 0,
        }
    }
}

/// Every single-bit flip in the only valid slot (record and commit unit): the store reports
/// damage — never "no checkpoint" — and nothing changes; or, for a flip in the commit unit,
/// restores the intact record exactly. A firmware that starts afresh only on
/// `Restored::Empty` therefore never overwrites a damaged model.
#[test]
#[cfg_attr(miri, ignore)]
fn a_flipped_bit_in_the_only_valid_slot_is_damage_not_emptiness() {
    let (good, snaps) = saved_store(false);
    let good = good.into_inner();
    let mut probe = Store::new(good.clone(), 0, 512).unwrap();
    let record = probe.latest().unwrap().unwrap().len as usize;
    let (mut damaged, mut intact) = (0, 0);
    let bits = (0..record * 8).chain((512 - 4) * 8..512 * 8);
    for bit in bits {
        let mut f = good.clone();
        f.bytes_mut()[bit / 8] ^= 1 << (bit % 8);
        let mut store = Store::new(f, 0, 512).unwrap();
        let mut m = Model::<f32>::new(0xDEAD);
        let before = m.snapshot();
        match store.restore(&mut m.g, &mut m.opt) {
            Err(RestoreError::Damaged) => {
                assert!(bit < record * 8, "bit {bit}");
                assert_eq!(m.snapshot(), before, "bit {bit}");
                assert_eq!(store.latest(), Err(RestoreError::Damaged));
                damaged += 1;
            }
            Ok(Restored::Checkpoint { info, .. }) => {
                assert!(bit >= record * 8, "bit {bit} in the record went unnoticed");
                assert_eq!((info.sequence, m.snapshot()), (1, snaps[0].clone()));
                intact += 1;
            }
            other => panic!("bit {bit}: {other:?}"),
        }
    }
    println!(
        "single-bit flips in the only valid slot: {} ({damaged} damaged, {intact} in the commit unit restored intact, 0 empty)",
        damaged + intact
    );
    assert_eq!((damaged, intact), (record * 8, 32));
}

/// What a restore with read faults ended as.
#[derive(Default, Debug)]
struct Faults {
    cases: usize,
    restored: usize,
    unchanged: usize,
    copy_failed: usize,
}

/// Read faults at every read of a restore — failing once or from then on, or returning a
/// flipped bit once or from then on. Every outcome is a complete restore of a saved checkpoint
/// or an error that changed nothing, except `CopyFailed`, which only a fault that persists
/// through both copy passes of the streaming restore gives; the buffered restore never does.
#[test]
#[cfg_attr(miri, ignore)]
fn read_faults_during_restore_leave_the_model_or_restore_it_whole() {
    let (store, snaps) = saved_store(true);
    let good = store.into_inner();
    let count_reads = |buffered: bool| {
        let mut s = Store::new(good.clone(), 0, 512).unwrap();
        let mut m = Model::<f32>::new(0xDEAD);
        let r0 = s.flash_mut().reads();
        let mut buf = [0u8; 512];
        if buffered {
            let _ = s.restore_buffered(&mut m.g, &mut m.opt, &mut buf).unwrap();
        } else {
            let _ = s.restore(&mut m.g, &mut m.opt).unwrap();
        }
        s.flash_mut().reads() - r0
    };
    let mut tally = [Faults::default(), Faults::default()];
    for buffered in [false, true] {
        let reads = count_reads(buffered);
        let t = &mut tally[usize::from(buffered)];
        for k in 0..reads + 1 {
            for (fault, n) in [
                (ReadFault::Fail, 1),
                (ReadFault::Fail, u32::MAX),
                (ReadFault::FlipBit, 1),
                (ReadFault::FlipBit, u32::MAX),
            ] {
                let mut s = Store::new(good.clone(), 0, 512).unwrap();
                s.flash_mut().fail_reads(k, n, fault);
                let mut m = Model::<f32>::new(0xDEAD);
                let before = m.snapshot();
                let mut buf = [0u8; 512];
                let r = if buffered {
                    s.restore_buffered(&mut m.g, &mut m.opt, &mut buf)
                } else {
                    s.restore(&mut m.g, &mut m.opt)
                };
                t.cases += 1;
                match r {
                    Ok(Restored::Checkpoint {
                        info,
                        other_damaged,
                    }) => {
                        let seq = info.sequence as usize;
                        assert_eq!(m.snapshot(), snaps[seq - 1], "k={k} {fault:?}×{n}");
                        // The older one only when the newer one read as damaged (twice alike).
                        assert!(seq == 2 || other_damaged, "k={k} {fault:?}×{n}");
                        t.restored += 1;
                    }
                    Err(RestoreError::CopyFailed) => {
                        assert!(!buffered && n == u32::MAX, "k={k} {fault:?}×{n}");
                        t.copy_failed += 1;
                    }
                    Err(RestoreError::Storage | RestoreError::Damaged) => {
                        assert_eq!(m.snapshot(), before, "k={k} {fault:?}×{n}: {r:?}");
                        t.unchanged += 1;
                    }
                    other => panic!("k={k} {fault:?}×{n}: {other:?}"),
                }
                // The fault gone, the same store restores the newest checkpoint.
                s.flash_mut().fail_reads(0, 0, ReadFault::Fail);
                let mut m = Model::<f32>::new(0xDEAD);
                let r = s.restore(&mut m.g, &mut m.opt).unwrap();
                assert_eq!((r.sequence(), m.snapshot()), (Some(2), snaps[1].clone()));
            }
        }
        assert_eq!(t.cases, 4 * (reads as usize + 1));
        println!(
            "read faults, {} restore ({reads} reads): {:?}",
            if buffered { "buffered" } else { "streaming" },
            t
        );
    }
    assert_eq!(tally[1].copy_failed, 0);
    assert!(tally[0].copy_failed > 0 && tally[0].unchanged > 0 && tally[1].unchanged > 0);
}
