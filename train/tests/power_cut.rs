//! Power cuts and bit flips against the two-slot checkpoint store.
//!
//! A full save is counted operation by operation (each programmed word, each erased sector).
//! Then, from the same starting flash, the save is repeated with the power cut after `k`
//! operations for every `k` from 0 to that count, the interrupted word or sector left clean,
//! half programmed or as garbage. After each cut the model is restored into a graph holding a
//! third, unrelated model and must be *exactly* the old checkpoint or the new one — bit for bit,
//! variables, optimizer state and update count — and the old slot must be byte-for-byte
//! untouched. Run with `--nocapture` to see the counts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use embedgrad_core::{Error, Graph, Matrix, NodeId, Op, Scalar, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_train::checkpoint::sim::{CutMode, SimFlash};
use embedgrad_train::checkpoint::{self, Slot, Store};
use embedgrad_train::{minimize, Optimizer, SplitMix64};

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
        let h = g.tanh(h).unwrap();
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
        Some(seq) => Some((seq, m.snapshot())),
        None => {
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
                // Only a cut in the commit unit's last word may already count as done.
                if k + 1 < count {
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
    // 452-byte record in 4-byte words: 2 sectors + 113 words + 1 commit word, +1 for "no cut".
    assert_eq!(words4, 3 * (2 + 113 + 1 + 1));
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
            let k = rng.below(130) as u32; // a full save is 118 operations here
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
/// damaged slots restore nothing, and damage outside a record (padding, unused slot space)
/// changes nothing.
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
            // Flip bits inside the newest slot's record and commit unit.
            for _ in 0..flips {
                let bit = rng.below((used * 8) as u64) as usize;
                store.flash_mut().bytes_mut()[SLOT + bit / 8] ^= 1 << (bit % 8);
            }
            let got = restored::<f32, _>(&mut store);
            let damaged =
                store.flash_mut().bytes()[SLOT..SLOT + used] != good.bytes()[SLOT..SLOT + used];
            if damaged {
                assert_eq!(got, Some((1, first.clone())), "{flips} flips");
                assert_eq!(store.slot(1), Ok(Slot::Invalid));
            } else {
                assert_eq!(got, Some((2, second.clone()))); // flips that cancelled out
            }
            // Damage the other slot too: nothing valid is left.
            let bit = rng.below((record * 8) as u64) as usize;
            store.flash_mut().bytes_mut()[bit / 8] ^= 1 << (bit % 8);
            if damaged {
                assert_eq!(restored::<f32, _>(&mut store), None);
            }
            tried += 1;
        }
    }
    // Damage past the commit unit is harmless.
    for at in used..SLOT {
        *store.flash_mut() = good.clone();
        store.flash_mut().bytes_mut()[SLOT + at] ^= 0x5A;
        assert_eq!(restored::<f32, _>(&mut store), Some((2, second.clone())));
        tried += 1;
    }
    println!("bit-flip cases: {tried}");
    assert_eq!(tried, 6 * 300 + (SLOT - used));
}
