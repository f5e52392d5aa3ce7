//! The non-finite guard: NaN or infinity in fed data, in assigned values, in the loss or its
//! gradients, and on the checkpoint path each return [`Error::NonFinite`] and leave every
//! variable — and the optimizer's state and update count — exactly as they were.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use embedgrad_core::{Error, Graph, Matrix, Op, Origin, Scalar, Shape, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_train::checkpoint::sim::SimFlash;
use embedgrad_train::checkpoint::{self, RestoreError, Store};
use embedgrad_train::{minimize, step_accumulated, Feeds, GradientDescent, Optimizer};

const BAD: [f32; 3] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY];

/// Gradient descent that also counts its updates and keeps per-parameter state, so that "the
/// optimizer did not run" can be checked.
struct Counting {
    lr: f32,
    state: [f32; 4],
    count: u32,
}

impl Optimizer<f32> for Counting {
    fn apply<O: Op<f32>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<f32, O, N, S>,
    ) -> Result<(), Error> {
        GradientDescent::new(self.lr).apply(g)?;
        for s in self.state.iter_mut() {
            *s += 1.0;
        }
        self.count += 1;
        Ok(())
    }
    fn state(&self) -> &[f32] {
        &self.state
    }
    fn state_mut(&mut self) -> &mut [f32] {
        &mut self.state
    }
    fn update_count(&self) -> u32 {
        self.count
    }
    fn set_update_count(&mut self, c: u32) {
        self.count = c;
    }
}

fn counting() -> Counting {
    Counting {
        lr: 0.1,
        state: [0.0; 4],
        count: 0,
    }
}

/// Every variable's bits, the optimizer's state bits and count.
fn fingerprint<O: Op<f32>, const N: usize, const S: usize>(
    g: &Graph<f32, O, N, S>,
    opt: &Counting,
) -> (Vec<u32>, [u32; 4], u32) {
    let vals = g
        .variables()
        .flat_map(|id| g.value_slice(id).unwrap().iter().map(|v| v.to_bits()))
        .collect();
    (vals, opt.state.map(f32::to_bits), opt.count)
}

/// `loss = Σ (x W + b − y)²` over a 2-row micro-batch of 2 inputs and 1 output.
struct Regression {
    g: StdGraph<f32, 16, 64>,
    feeds: Feeds,
    loss: Tensor<1, 1>,
    x: Tensor<2, 2>,
    w: Tensor<2, 1>,
}

fn regression() -> Regression {
    let mut g = StdGraph::new();
    let x = g.placeholder::<2, 2>().unwrap();
    let y = g.placeholder::<2, 1>().unwrap();
    let w = g.variable(&Matrix::new([[0.5], [-0.5]])).unwrap();
    let b = g.variable(&Matrix::new([[0.1]])).unwrap();
    let xw = g.matmul(x, w).unwrap();
    let p = g.add(xw, b).unwrap();
    let d = g.subtract(p, y).unwrap();
    let sq = g.square(d).unwrap();
    let loss = g.reduce_sum(sq).unwrap();
    g.feed(x, &Matrix::new([[1.0, 2.0], [3.0, 4.0]])).unwrap();
    g.feed(y, &Matrix::new([[1.0], [0.0]])).unwrap();
    Regression {
        g,
        feeds: Feeds {
            x: x.id(),
            y: y.id(),
            loss: loss.id(),
        },
        loss,
        x,
        w,
    }
}

#[test]
fn nan_or_inf_in_fed_data_is_refused_and_the_old_feed_kept() {
    let mut m = regression();
    let mut opt = counting();
    for bad in BAD {
        for at in 0..4 {
            let mut data = [1.0, 2.0, 3.0, 4.0];
            data[at] = bad;
            let before = m.g.value(m.x).unwrap();
            assert_eq!(
                m.g.feed_slice(m.x.id(), &data),
                Err(Error::non_finite(Origin::Feed, m.x.id()))
            );
            assert_eq!(m.g.value(m.x).unwrap(), before, "nothing written");
        }
    }
    // The graph still trains on the last good feed.
    let l0 = minimize(&mut opt, &mut m.g, m.loss).unwrap();
    assert!(l0.is_finite());
    assert_eq!(opt.count, 1);
}

#[test]
fn nan_or_inf_in_a_micro_batch_stops_step_accumulated_before_any_update() {
    let xs_good = [
        1.0f32, 2.0, 3.0, 4.0, 0.5, -1.0, 2.0, 0.0, -3.0, 1.0, 1.0, 1.0,
    ];
    let ys = [1.0f32, 0.0, 0.5, 0.25, 2.0, -1.0];
    let mut tried = 0;
    for bad in BAD {
        for at in 0..xs_good.len() {
            let mut m = regression();
            let mut opt = counting();
            let mut xs = xs_good;
            xs[at] = bad;
            let before = fingerprint(&m.g, &opt);
            assert_eq!(
                step_accumulated(&mut opt, &mut m.g, m.feeds, &xs, &ys),
                Err(Error::non_finite(Origin::Feed, m.feeds.x)),
                "x[{at}] = {bad}"
            );
            assert_eq!(fingerprint(&m.g, &opt), before);
            // Bad targets too.
            let mut ys_bad = ys;
            ys_bad[at % ys.len()] = bad;
            assert_eq!(
                step_accumulated(&mut opt, &mut m.g, m.feeds, &xs_good, &ys_bad),
                Err(Error::non_finite(Origin::Feed, m.feeds.y))
            );
            assert_eq!(fingerprint(&m.g, &opt), before);
            tried += 2;
        }
    }
    assert_eq!(tried, 3 * 12 * 2);
    // And with good data the same step works.
    let mut m = regression();
    let mut opt = counting();
    let before = fingerprint(&m.g, &opt);
    step_accumulated(&mut opt, &mut m.g, m.feeds, &xs_good, &ys).unwrap();
    assert_ne!(fingerprint(&m.g, &opt), before);
}

#[test]
fn nan_or_inf_assigned_or_given_as_initial_value_is_refused() {
    let mut m = regression();
    let opt = counting();
    let before = fingerprint(&m.g, &opt);
    let req = m.g.requirements();
    for bad in BAD {
        assert_eq!(
            m.g.assign_slice(m.w.id(), &[0.0, bad]),
            Err(Error::non_finite(Origin::Assign, m.w.id()))
        );
        assert_eq!(
            m.g.variable_dyn(Shape::new(1, 2), &[bad, 1.0]),
            Err(Error::non_finite_in(Origin::Assign))
        );
        assert_eq!(
            m.g.constant_dyn(Shape::new(1, 1), &[bad]),
            Err(Error::non_finite_in(Origin::Assign))
        );
    }
    assert_eq!(fingerprint(&m.g, &opt), before);
    assert_eq!(m.g.requirements(), req, "no node was added");
}

#[test]
fn a_non_finite_loss_is_refused_by_minimize_and_step_accumulated() {
    // loss = Σ log(w ⊙ x): x = 0 gives log(0) = −∞.
    let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
    let x = g.placeholder::<1, 2>().unwrap();
    let y = g.placeholder::<1, 1>().unwrap(); // unused target, for Feeds
    let w = g.variable(&Matrix::new([[2.0, 3.0]])).unwrap();
    let wx = g.multiply(w, x).unwrap();
    let l = g.log(wx).unwrap();
    let loss = g.reduce_sum(l).unwrap();
    let mut opt = counting();
    let before = fingerprint(&g, &opt);
    for data in [[0.0, 1.0], [1.0, -1.0]] {
        g.feed(x, &Matrix::new([data])).unwrap();
        assert_eq!(
            minimize(&mut opt, &mut g, loss),
            Err(Error::non_finite(Origin::Loss, loss.id()))
        );
        assert_eq!(fingerprint(&g, &opt), before);
    }
    let feeds = Feeds {
        x: x.id(),
        y: y.id(),
        loss: loss.id(),
    };
    assert_eq!(
        step_accumulated(&mut opt, &mut g, feeds, &[1.0, 1.0, 0.0, 1.0], &[0.0, 0.0]),
        Err(Error::non_finite(Origin::Loss, loss.id()))
    );
    assert_eq!(fingerprint(&g, &opt), before);
    // exp overflow: e^100 is infinite in f32.
    let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
    let w = g.variable(&Matrix::new([[100.0f32]])).unwrap();
    let e = g.exp(w).unwrap();
    let loss = g.reduce_sum(e).unwrap();
    let before = fingerprint(&g, &opt);
    assert_eq!(
        minimize(&mut opt, &mut g, loss),
        Err(Error::non_finite(Origin::Loss, loss.id()))
    );
    assert_eq!(fingerprint(&g, &opt), before);
}

#[test]
fn a_finite_loss_with_an_infinite_gradient_is_refused() {
    // log(w) at the smallest subnormal: the loss is −103.3, its gradient 1/w overflows.
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g
        .variable(&Matrix::new([[f32::from_bits(1), 1.0]]))
        .unwrap();
    let l = g.log(w).unwrap();
    let loss = g.reduce_sum(l).unwrap();
    let mut opt = counting();
    let before = fingerprint(&g, &opt);
    let r = minimize(&mut opt, &mut g, loss);
    assert_eq!(r, Err(Error::non_finite(Origin::Gradient, w.id())));
    assert!(g.eval(loss).unwrap().data[0][0].is_finite());
    assert!(g.grad(w).unwrap().data[0][0].is_infinite());
    assert_eq!(fingerprint(&g, &opt), before);
}

/// An update can overflow: with finite loss and gradients, `w − η·g` may still be ±∞.
/// The crate's optimizers refuse such an update (see `optimizers::tests`), but `minimize`
/// itself only checks the loss and the gradients, so a user optimizer without that check — like
/// `Counting` here — lets it through; the checkpoint path then refuses to store the broken
/// model, and the last good checkpoint brings the model back. (An optimizer that refuses must
/// leave the variable unchanged instead.)
#[test]
fn an_overflowing_update_is_never_checkpointed() {
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g.variable(&Matrix::new([[-3.0e38f32, 1.0]])).unwrap();
    let loss = g.reduce_sum(w).unwrap(); // gradient 1 everywhere
    let mut opt = Counting {
        lr: 1.0e38,
        state: [0.0; 4],
        count: 0,
    };
    let mut store = Store::new(SimFlash::<2048, 4, 256>::new(), 0, 512).unwrap();
    assert_eq!(store.save(&g, &opt), Ok(1));
    let good = g.value(w).unwrap();
    let flash_before = store.flash_mut().bytes().to_vec();

    match minimize(&mut opt, &mut g, loss) {
        Ok(_) => {
            assert_eq!(g.value(w).unwrap().data[0][0], f32::NEG_INFINITY);
            assert_eq!(
                store.save(&g, &opt),
                Err(Error::non_finite(Origin::Checkpoint, w.id()))
            );
            assert_eq!(
                store.flash_mut().bytes(),
                &flash_before[..],
                "flash untouched"
            );
            let mut buf = [0u8; 128];
            assert_eq!(
                checkpoint::save_to_slice(&g, &opt, 2, &mut buf),
                Err(Error::non_finite(Origin::Checkpoint, w.id()))
            );
            assert!(buf.iter().all(|&b| b == 0));
            // Back to the last good model.
            assert_eq!(
                store.restore(&mut g, &mut opt).map(|r| r.sequence()),
                Ok(Some(1))
            );
        }
        Err(e) => assert_eq!(e, Error::non_finite(Origin::Update, w.id())),
    }
    assert_eq!(g.value(w).unwrap(), good);
    assert_eq!(opt.count, 0);
}

#[test]
fn a_stored_nan_is_refused_on_restore_from_flash() {
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g.variable(&Matrix::new([[1.0f32, 2.0]])).unwrap();
    let opt = counting();
    // A record with a NaN and a correct CRC, written by hand with its commit marker.
    let mut rec = [0xFFu8; 512];
    let n = checkpoint::save_to_slice(&g, &opt, 1, &mut rec).unwrap();
    rec[44..48].copy_from_slice(&f32::NAN.to_le_bytes()); // the first value
    let crc = checkpoint::crc32(&rec[..n - 4]);
    rec[n - 4..n].copy_from_slice(&crc.to_le_bytes());
    rec[512 - 4..].copy_from_slice(&checkpoint::COMMIT); // the slot's last unit
    let mut flash = SimFlash::<1024>::new();
    embedded_storage::nor_flash::NorFlash::write(&mut flash, 0, &rec).unwrap();
    let mut store = Store::new(flash, 0, 512).unwrap();
    assert!(!store.latest().unwrap().unwrap().finite);

    g.assign(w, &Matrix::new([[5.0, 6.0]])).unwrap();
    let mut opt2 = Counting {
        lr: 0.1,
        state: [9.0; 4],
        count: 7,
    };
    let before = fingerprint(&g, &opt2);
    assert_eq!(
        store.restore(&mut g, &mut opt2),
        Err(RestoreError::Mismatch(Error::non_finite_in(
            Origin::Checkpoint
        )))
    );
    assert_eq!(fingerprint(&g, &opt2), before);
}

/// The scalar type does not matter for the guard: the same holds in f64.
#[test]
fn the_guard_holds_in_f64() {
    fn check<T: Scalar>() {
        let mut g: StdGraph<T, 8, 32> = StdGraph::new();
        let x = g.placeholder::<1, 1>().unwrap();
        let w = g.variable(&Matrix::new([[T::ONE]])).unwrap();
        let p = g.multiply(w, x).unwrap();
        let l = g.log(p).unwrap();
        let loss = g.reduce_sum(l).unwrap();
        assert_eq!(
            g.feed(x, &Matrix::new([[T::INFINITY]])),
            Err(Error::non_finite(Origin::Feed, x.id()))
        );
        g.feed(x, &Matrix::new([[T::ZERO]])).unwrap();
        let mut opt = GradientDescent::new(T::ONE);
        assert_eq!(
            minimize(&mut opt, &mut g, loss),
            Err(Error::non_finite(Origin::Loss, loss.id()))
        );
        assert_eq!(g.value(w).unwrap(), Matrix::new([[T::ONE]]));
    }
    check::<f32>();
    check::<f64>();
}

/// The planned step names the same origins as the interpreter: the loss, then a variable's
/// gradient or its update, each with the node.
#[test]
fn a_planned_step_names_the_loss_the_gradient_and_the_update() {
    use embedgrad_core::PlanOptions;
    // log(w ⊙ x): x = 0 makes the loss −∞.
    let mut g: StdGraph<f32, 8, 32> = StdGraph::new();
    let x = g.placeholder::<1, 2>().unwrap();
    let w = g.variable(&Matrix::new([[2.0, 3.0]])).unwrap();
    let wx = g.multiply(w, x).unwrap();
    let l = g.log(wx).unwrap();
    let loss = g.reduce_sum(l).unwrap();
    g.plan(loss, PlanOptions::default()).unwrap();
    let mut opt = GradientDescent::new(0.1f32);
    g.feed(x, &Matrix::new([[0.0, 1.0]])).unwrap();
    assert_eq!(
        minimize(&mut opt, &mut g, loss),
        Err(Error::non_finite(Origin::Loss, loss.id()))
    );
    assert_eq!(g.value(w).unwrap(), Matrix::new([[2.0, 3.0]]));

    // log(w) at the smallest subnormal: a finite loss whose gradient 1/w overflows.
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g
        .variable(&Matrix::new([[f32::from_bits(1), 1.0]]))
        .unwrap();
    let l = g.log(w).unwrap();
    let loss = g.reduce_sum(l).unwrap();
    g.plan(loss, PlanOptions::default()).unwrap();
    assert_eq!(
        minimize(&mut opt, &mut g, loss),
        Err(Error::non_finite(Origin::Gradient, w.id()))
    );

    // A finite gradient whose update overflows: w = −3e38, gradient 1, step 1e38.
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g.variable(&Matrix::new([[-3.0e38f32, 1.0]])).unwrap();
    let loss = g.reduce_sum(w).unwrap();
    g.plan(loss, PlanOptions::default()).unwrap();
    let mut big = GradientDescent::new(1.0e38f32);
    let e = minimize(&mut big, &mut g, loss).unwrap_err();
    assert_eq!(e, Error::non_finite(Origin::Update, w.id()));
    assert_eq!(
        e.to_string(),
        format!(
            "non-finite value (NaN or infinity) in an update of variable {}",
            w.id()
        )
    );
    assert_eq!(g.value(w).unwrap(), Matrix::new([[-3.0e38f32, 1.0]]));
}
