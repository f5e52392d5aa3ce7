use super::adam::{adam_fits, adam_rule};
use super::*;

/// The bound-based Adam check agrees with running the rule on every entry, over weights,
/// gradients, moments and settings from tiny to overflowing (f32 and f64).
#[test]
fn adam_check_equals_the_dry_run() {
    fn case<T: Scalar>(rng: &mut crate::SplitMix64) -> (bool, bool) {
        let mut mag = |lo: f64, hi: f64| {
            let e = lo + (hi - lo) * rng.uniform();
            let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
            sign * 10f64.powf(e)
        };
        let big = if T::BYTES == 4 { 38.5 } else { 308.5 };
        let (w, d, m) = (mag(-3.0, big), mag(-3.0, big), mag(-3.0, big));
        let s = mag(-3.0, big).abs();
        let lr = mag(-6.0, 3.0).abs();
        let eps = [0.0, 1e-8, 1e-30, 1.0][(rng.uniform() * 4.0) as usize % 4];
        let (b1, b2) = (0.9, [0.999, 0.0, 0.5][(rng.uniform() * 3.0) as usize % 3]);
        let count = 1 + (rng.uniform() * 1000.0) as u32;
        let hyper = [lr, b1, b2, eps].map(T::from_f64);
        let rule = adam_rule(hyper, count);
        let (w, d, m, s) = (
            T::from_f64(w),
            T::from_f64(d),
            T::from_f64(m),
            T::from_f64(s),
        );
        let fast = adam_fits(&[w], &[d], &[m], &[s], &rule);
        let (w2, m2, s2) = rule.apply(w, d, m, s);
        (fast, w2.is_finite() && m2.is_finite() && s2.is_finite())
    }
    let mut rng = crate::SplitMix64::new(7);
    let (mut fits, mut refused) = (0, 0);
    // Fewer cases under Miri, which interprets every float operation.
    let cases = if cfg!(miri) { 100 } else { 20_000 };
    for _ in 0..cases {
        for (fast, exact) in [case::<f32>(&mut rng), case::<f64>(&mut rng)] {
            assert_eq!(fast, exact);
            if exact {
                fits += 1;
            } else {
                refused += 1;
            }
        }
    }
    // Both outcomes are exercised.
    assert!(
        fits > cases / 20 && refused > cases / 20,
        "{fits} fit, {refused} refused"
    );
}
use crate::minimize;
use embedgrad_core::{Matrix, Origin};
use embedgrad_ops::prelude::*;

/// An update that would overflow a variable is refused by every optimizer: `NonFinite`,
/// and the variable, the state and the update counter are as before.
#[test]
fn overflowing_updates_are_refused_and_change_nothing() {
    fn check(opt: &mut impl Optimizer<f32>) {
        let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
        let w = g.variable(&Matrix::new([[-3.0e38f32, 1.0]])).unwrap();
        let loss = g.reduce_sum(w).unwrap(); // gradient 1 everywhere, loss finite
        let state: Vec<f32> = opt.state().to_vec();
        let count = opt.update_count();
        assert_eq!(
            minimize(opt, &mut g, loss),
            Err(Error::non_finite(Origin::Update, w.id()))
        );
        assert_eq!(g.value(w).unwrap(), Matrix::new([[-3.0e38f32, 1.0]]));
        assert_eq!(opt.state(), &state[..]);
        assert_eq!(opt.update_count(), count);
    }
    check(&mut GradientDescent::new(1.0e38f32));
    check(&mut Momentum::<f32, 2>::new(1.0e38, 0.9));
    check(&mut Momentum::<f32, 2>::nesterov(1.0e38, 0.9));
    // Adam's first step moves each weight by about η: η = 1e38 overflows −3e38.
    check(&mut Adam::<f32, 2>::new(1.0e38));
}

/// Settings out of range are refused by `apply` (so by `minimize`) with the parameter's
/// name and value, before anything changes: the variable, the state and the counter.
#[test]
fn bad_settings_are_refused_with_name_and_value() {
    fn check(opt: &mut impl Optimizer<f64>, name: &str, value: f64) {
        let (mut g, w, loss) = quadratic([1.0, -2.0]);
        let count = opt.update_count();
        match minimize(opt, &mut g, loss) {
            Err(Error::InvalidParameter {
                name: n, value: v, ..
            }) => {
                assert_eq!(n, name);
                assert!(v == value || (v.is_nan() && value.is_nan()), "{v}");
            }
            other => panic!("{name} = {value}: {other:?}"),
        }
        assert_eq!(g.value(w).unwrap(), Matrix::new([[1.0, -2.0]]));
        assert!(opt.state().iter().all(|&s| s == 0.0));
        assert_eq!(opt.update_count(), count);
    }
    for lr in [-0.1, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        check(&mut GradientDescent::new(lr), "learning_rate", lr);
        check(&mut Momentum::<f64, 2>::new(lr, 0.9), "learning_rate", lr);
        check(&mut Adam::<f64, 2>::new(lr), "learning_rate", lr);
    }
    for mu in [-0.5, 1.0, f64::NAN] {
        check(&mut Momentum::<f64, 2>::new(0.1, mu), "momentum", mu);
        check(&mut Momentum::<f64, 2>::nesterov(0.1, mu), "momentum", mu);
    }
    // β1 = 1 divides by 1 − β1^t = 0: it used to be reported as NonFinite.
    check(
        &mut Adam::<f64, 2>::with(0.1, 1.0, 0.999, 1e-8),
        "beta1",
        1.0,
    );
    check(&mut Adam::<f64, 2>::with(0.1, 0.9, 1.5, 1e-8), "beta2", 1.5);
    check(
        &mut Adam::<f64, 2>::with(0.1, 0.9, 0.999, -1e-8),
        "epsilon",
        -1e-8,
    );
    check(
        &mut Adam::<f64, 2>::with(0.1, 0.9, 0.999, f64::NAN),
        "epsilon",
        f64::NAN,
    );
    // The checking constructor and the messages.
    let e = GradientDescent::try_new(-0.1f64).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid learning_rate -0.1: must be finite and >= 0"
    );
    assert!(GradientDescent::try_new(f32::NAN).is_err());
    assert_eq!(
        GradientDescent::try_new(0.5f32).map(|o| o.learning_rate),
        Ok(0.5)
    );
    let e = Adam::<f32, 1>::with(0.1, 1.0, 0.999, 1e-8)
        .validate()
        .unwrap_err();
    assert_eq!(e.to_string(), "invalid beta1 1: must be in [0, 1)");
    assert_eq!(Momentum::<f32, 1>::new(0.1, 0.9).validate(), Ok(()));
    // 0 is where a schedule decaying to 0 ends: allowed, the step changes nothing.
    let (mut g, w, loss) = quadratic([1.0, -2.0]);
    minimize(&mut GradientDescent::new(0.0), &mut g, loss).unwrap();
    assert_eq!(g.value(w).unwrap(), Matrix::new([[1.0, -2.0]]));
    assert_eq!(Adam::<f32, 1>::new(0.1).validate(), Ok(()));
}

/// `J = Σ w²` over one variable with the given initial value.
fn quadratic<const C: usize>(w0: [f64; C]) -> (StdGraph<f64, 4, 16>, Tensor<1, C>, Tensor<1, 1>) {
    let mut g = StdGraph::new();
    let w = g.variable(&Matrix::new([w0])).unwrap();
    let sq = g.square(w).unwrap();
    let loss = g.reduce_sum(sq).unwrap();
    (g, w, loss)
}

#[test]
fn momentum_by_hand() {
    // J = w², w0 = 1, η = 0.1, μ = 0.9 (gradient 2w):
    // classical: v = 2, w = 0.8; v = 1.8 + 1.6 = 3.4, w = 0.46; v = 3.06 + 0.92 = 3.98,
    // w = 0.062.
    let (mut g, w, loss) = quadratic([1.0]);
    let mut opt: Momentum<f64, 1> = Momentum::new(0.1, 0.9);
    for want in [0.8, 0.46, 0.062] {
        minimize(&mut opt, &mut g, loss).unwrap();
        assert!((g.value(w).unwrap().data[0][0] - want).abs() < 1e-15);
    }
    assert!((opt.velocity()[0] - 3.98).abs() < 1e-15);
    // Nesterov: v = 2, step 2 + 1.8 = 3.8, w = 0.62; g = 1.24, v = 1.8 + 1.24 = 3.04,
    // step 1.24 + 2.736 = 3.976, w = 0.2224.
    let (mut g, w, loss) = quadratic([1.0]);
    let mut opt: Momentum<f64, 1> = Momentum::nesterov(0.1, 0.9);
    for want in [0.62, 0.2224] {
        minimize(&mut opt, &mut g, loss).unwrap();
        assert!((g.value(w).unwrap().data[0][0] - want).abs() < 1e-15);
    }
    // μ = 0 is gradient descent.
    let (mut g, w, loss) = quadratic([1.0, -3.0]);
    let mut opt: Momentum<f64, 2> = Momentum::new(0.25, 0.0);
    minimize(&mut opt, &mut g, loss).unwrap();
    assert_eq!(g.value(w).unwrap(), Matrix::new([[0.5, -1.5]]));
}

#[test]
fn adam_two_steps_by_hand() {
    // J = w², w0 = 2, η = 0.5, β1 = 0.5, β2 = 0.75, ε = 0 (binary fractions: exact).
    // t = 1: d = 4, m = 2, v = 4, m̂ = 2/0.5 = 4, v̂ = 4/0.25 = 16, w = 2 − 0.5·4/4 = 1.5.
    // t = 2: d = 3, m = 1 + 1.5 = 2.5, v = 3 + 2.25 = 5.25, m̂ = 2.5/0.75 = 10/3,
    //        v̂ = 5.25/0.4375 = 12, w = 1.5 − 0.5·(10/3)/√12 = 1.5 − 5√3/18.
    let (mut g, w, loss) = quadratic([2.0]);
    let mut opt: Adam<f64, 1> = Adam::with(0.5, 0.5, 0.75, 0.0);
    minimize(&mut opt, &mut g, loss).unwrap();
    assert_eq!(g.value(w).unwrap().data[0][0], 1.5);
    assert_eq!(
        (opt.first_moments(), opt.second_moments()),
        (&[2.0][..], &[4.0][..])
    );
    minimize(&mut opt, &mut g, loss).unwrap();
    let want = 1.5 - 5.0 * 3f64.sqrt() / 18.0;
    assert!((g.value(w).unwrap().data[0][0] - want).abs() < 1e-15);
    assert_eq!(opt.state(), &[2.5, 5.25]);
    assert_eq!(opt.update_count(), 2);
    // The paper's defaults: m̂ = d and v̂ = d² at t = 1, so the first step is
    // η·d/(|d| + ε) ≈ η·sign(d) in each coordinate.
    let (mut g, w, loss) = quadratic([1.0, -1e-3]);
    let mut opt: Adam<f64, 2> = Adam::new(0.01);
    minimize(&mut opt, &mut g, loss).unwrap();
    let v = g.value(w).unwrap();
    // |d| = 2 and 2e-3: step = 0.01·|d|/(|d| + 1e-8).
    assert!((v.data[0][0] - (1.0 - 0.01 * 2.0 / (2.0 + 1e-8))).abs() < 1e-15);
    assert!((v.data[0][1] - (-1e-3 + 0.01 * 2e-3 / (2e-3 + 1e-8))).abs() < 1e-15);
}

#[test]
fn adam_restores_from_its_state_hooks() {
    // Copy values, state and counter into a fresh graph and optimizer (what a checkpoint
    // does): the next step is identical.
    let (mut g1, w1, l1) = quadratic([0.7, -0.2]);
    let mut a: Adam<f64, 2> = Adam::new(0.05);
    for _ in 0..3 {
        minimize(&mut a, &mut g1, l1).unwrap();
    }
    let (mut g2, w2, l2) = quadratic([0.0, 0.0]);
    g2.assign(w2, &g1.value(w1).unwrap()).unwrap();
    let mut b: Adam<f64, 2> = Adam::new(0.05);
    b.state_mut().copy_from_slice(a.state());
    b.set_update_count(a.update_count());
    minimize(&mut a, &mut g1, l1).unwrap();
    minimize(&mut b, &mut g2, l2).unwrap();
    assert_eq!(g1.value(w1).unwrap(), g2.value(w2).unwrap());
    a.reset();
    assert_eq!((a.update_count(), a.state()), (0, &[0.0; 4][..]));
}

#[test]
fn too_small_state_is_refused_before_any_change() {
    let (mut g, w, loss) = quadratic([1.0, 2.0, 3.0]);
    g.forward_backward(loss).unwrap();
    // The error says how many scalars the state must hold (3) and holds (2).
    let too_small = Err(Error::TooSmall {
        what: "optimizer state",
        needed: 3,
        available: 2,
    });
    let mut m: Momentum<f64, 2> = Momentum::new(0.1, 0.9);
    assert_eq!(m.apply(&mut g), too_small);
    let mut a: Adam<f64, 2> = Adam::new(0.1);
    assert_eq!(a.apply(&mut g), too_small);
    assert_eq!(a.update_count(), 0);
    assert_eq!(g.value(w).unwrap(), Matrix::new([[1.0, 2.0, 3.0]]));
    assert_eq!((m.state(), a.state()), (&[0.0; 2][..], &[0.0; 4][..]));
    // Larger P is fine.
    let mut big: Adam<f64, 10> = Adam::new(0.1);
    big.apply(&mut g).unwrap();
}

#[test]
fn unreached_variables_keep_value_and_state() {
    let mut g: StdGraph<f64, 8, 32> = StdGraph::new();
    let a = g.variable(&Matrix::new([[1.0]])).unwrap();
    let b = g.variable(&Matrix::new([[5.0, 6.0]])).unwrap();
    let sq = g.square(a).unwrap();
    let loss = g.reduce_sum(sq).unwrap();
    let mut opt: Adam<f64, 3> = Adam::new(0.1);
    minimize(&mut opt, &mut g, loss).unwrap();
    assert_eq!(g.value(b).unwrap(), Matrix::new([[5.0, 6.0]]));
    assert!(opt.second_moments()[0] > 0.0);
    assert_eq!(&opt.second_moments()[1..], &[0.0, 0.0]);
    let mut m: Momentum<f64, 3> = Momentum::new(0.1, 0.9);
    minimize(&mut m, &mut g, loss).unwrap();
    assert_eq!(g.value(b).unwrap(), Matrix::new([[5.0, 6.0]]));
    assert_eq!(&m.velocity()[1..], &[0.0, 0.0]);
}

#[test]
fn clipping_by_global_norm() {
    // Two variables: gradients (2·1.5, 2·2) = (3, 4) and 2·(0) = 0 → norm 5.
    let mut g: StdGraph<f64, 8, 32> = StdGraph::new();
    let a = g.variable(&Matrix::new([[1.5, 2.0]])).unwrap();
    let b = g.variable(&Matrix::new([[0.0]])).unwrap();
    let sa = g.square(a).unwrap();
    let sb = g.square(b).unwrap();
    let ra = g.reduce_sum(sa).unwrap();
    let loss = g.add(ra, sb).unwrap();
    g.forward_backward(loss).unwrap();
    // Below the threshold: unchanged.
    assert_eq!(clip_grad_norm(&mut g, 10.0).unwrap(), 5.0);
    assert_eq!(g.grad(a).unwrap(), Matrix::new([[3.0, 4.0]]));
    // Above: scaled to norm 2.5.
    assert_eq!(clip_grad_norm(&mut g, 2.5).unwrap(), 5.0);
    assert_eq!(g.grad(a).unwrap(), Matrix::new([[1.5, 2.0]]));
    assert_eq!(grad_norm(&mut g).unwrap(), 2.5);
    // Bad thresholds.
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = clip_grad_norm(&mut g, bad);
        assert!(
            matches!(e, Err(Error::InvalidParameter { name: "max_norm", value, expected: "finite and > 0" })
                if value.to_bits() == bad.to_bits()),
            "{e:?}"
        );
    }
    assert_eq!(g.grad(a).unwrap(), Matrix::new([[1.5, 2.0]]));
    // Huge gradients in f32: the norm does not overflow.
    let mut g: StdGraph<f32, 4, 16> = StdGraph::new();
    let w = g.variable(&Matrix::new([[1.0f32, 1.0]])).unwrap();
    let loss = g.reduce_sum(w).unwrap();
    g.forward_backward(loss).unwrap(); // gradient (1, 1)
    g.scale_grads(1e30); // (1e30, 1e30): the sum of squares would overflow f32
    let n = clip_grad_norm(&mut g, 1.0).unwrap();
    assert!((n / 1e30 - 2f32.sqrt()).abs() < 1e-6, "{n}");
    let d = g.grad(w).unwrap();
    assert!((d.data[0][0] - 0.5f32.sqrt()).abs() < 1e-6);
}

#[test]
fn minimize_clipped_updates_with_the_clipped_gradient() {
    let (mut g, w, loss) = quadratic([1.5, 2.0]);
    let mut opt = GradientDescent::new(0.5);
    // Gradient (3, 4) clipped to (1.5, 2): w = (1.5 − 0.75, 2 − 1).
    let (l, n) = minimize_clipped(&mut opt, &mut g, loss, 2.5).unwrap();
    assert_eq!((l, n), (6.25, 5.0));
    assert_eq!(g.value(w).unwrap(), Matrix::new([[0.75, 1.0]]));
    assert_eq!(
        minimize_clipped(&mut opt, &mut g, loss, 0.0),
        Err(Error::InvalidParameter {
            name: "max_norm",
            value: 0.0,
            expected: "finite and > 0",
        })
    );
}
