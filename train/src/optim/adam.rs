//! Adam with bias correction, one pair of moments per trainable scalar.

use super::{
    check_capacity, check_decay, check_learning_rate, check_non_negative, refused_update,
    state_too_small, LearningRate, Optimizer,
};
use embedgrad_core::{Error, Graph, Op, Scalar, VariableMut};

/// Refuses Adam settings out of range.
fn check_adam<T: Scalar>(lr: T, beta1: T, beta2: T, epsilon: T) -> Result<(), Error> {
    check_learning_rate(lr)?;
    check_decay("beta1", beta1)?;
    check_decay("beta2", beta2)?;
    // ε = 0 is allowed (exact arithmetic in tests); a zero gradient then makes 0/0, which the
    // update's own check refuses as non-finite.
    check_non_negative("epsilon", epsilon)
}

/// Adam (Kingma & Ba, 2015), with bias correction and one pair of moments per trainable
/// scalar.
///
/// At update `t = 1, 2, …`, per scalar `w` with gradient `d`:
///
/// ```text
/// m ← β1·m + (1 − β1)·d          v ← β2·v + (1 − β2)·d²
/// m̂ = m / (1 − β1^t)             v̂ = v / (1 − β2^t)
/// w ← w − η · m̂ / (√v̂ + ε)
/// ```
///
/// The first update moves every scalar with a non-zero gradient by about `η` (`m̂/√v̂ = ±1`).
/// Adam is invariant to the scale of the loss, so a summed loss (the tutorial's) and a mean
/// need the same `η`. The update counter `t` is the checkpoint's
/// [`Optimizer::update_count`]; the state ([`Optimizer::state`]) is all `m`, then all `v`.
/// Variables the last backprop did not reach are not updated and keep their moments.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{minimize, Adam, Optimizer};
/// let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.0, -2.0]]))?;
/// let sq = g.square(w)?;
/// let loss = g.reduce_sum(sq)?;
/// let mut opt: Adam<f64, 2> = Adam::new(0.1);
/// minimize(&mut opt, &mut g, loss)?;
/// // The first step is η against the gradient's sign, whatever its size (up to ε).
/// let v = g.value(w)?;
/// assert!((v.data[0][0] - 0.9).abs() < 1e-8 && (v.data[0][1] + 1.9).abs() < 1e-8);
/// assert_eq!(opt.update_count(), 1);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam<T, const P: usize> {
    /// Step size `η` (0.001 in the paper; larger, e.g. 0.01, for small nets).
    pub learning_rate: T,
    /// Decay of the first moment, `β1` (0.9).
    pub beta1: T,
    /// Decay of the second moment, `β2` (0.999).
    pub beta2: T,
    /// `ε` added to `√v̂` (1e-8), so that a zero gradient moves nothing.
    pub epsilon: T,
    t: u32,
    /// `[m, v]`, contiguous so that [`Optimizer::state`] is one slice.
    moments: [[T; P]; 2],
}

impl<T: Scalar, const P: usize> Adam<T, P> {
    /// Adam with step size `learning_rate` and the paper's defaults `β1 = 0.9`,
    /// `β2 = 0.999`, `ε = 1e-8`.
    pub fn new(learning_rate: T) -> Self {
        Self::with(
            learning_rate,
            T::from_f64(0.9),
            T::from_f64(0.999),
            T::from_f64(1e-8),
        )
    }

    /// Adam with every hyper-parameter given.
    pub const fn with(learning_rate: T, beta1: T, beta2: T, epsilon: T) -> Self {
        Self {
            learning_rate,
            beta1,
            beta2,
            epsilon,
            t: 0,
            moments: [[T::ZERO; P]; 2],
        }
    }

    /// The first moments `m`, one per trainable scalar.
    pub fn first_moments(&self) -> &[T] {
        let [m, _] = &self.moments;
        m
    }

    /// The second moments `v`, one per trainable scalar.
    pub fn second_moments(&self) -> &[T] {
        let [_, v] = &self.moments;
        v
    }

    /// Checks the settings, as [`Optimizer::apply`] does before each update (the
    /// constructors do not).
    ///
    /// ```
    /// use embedgrad_core::Error;
    /// use embedgrad_train::Adam;
    /// let adam: Adam<f32, 4> = Adam::with(0.01, 1.0, 0.999, 1e-8);
    /// assert_eq!(
    ///     adam.validate().unwrap_err().to_string(),
    ///     "invalid beta1 1: must be in [0, 1)"
    /// );
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (name, value, range) for a learning rate that is
    /// negative, NaN or infinite, an `epsilon` that is not finite and `≥ 0`, or a `beta1` or
    /// `beta2` outside `[0, 1)`.
    pub fn validate(&self) -> Result<(), Error> {
        check_adam(self.learning_rate, self.beta1, self.beta2, self.epsilon)
    }

    /// Forgets the moments and the update counter (back to the state of a new optimizer).
    pub fn reset(&mut self) {
        self.t = 0;
        self.moments = [[T::ZERO; P]; 2];
    }
}

impl<T: Scalar, const P: usize> Optimizer<T> for Adam<T, P> {
    fn begin_step(&mut self) -> Result<(), Error> {
        self.validate()?;
        self.t = self.t.saturating_add(1);
        Ok(())
    }

    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        let hyper = [self.learning_rate, self.beta1, self.beta2, self.epsilon];
        let rule = adam_rule(hyper, self.t);
        let range = v.offset..v.offset + v.value.len();
        let [m, s] = &mut self.moments;
        let available = m.len().min(s.len());
        let (Some(ms), Some(vs)) = (m.get_mut(range.clone()), s.get_mut(range.clone())) else {
            return Err(state_too_small(range.end, available));
        };
        if !adam_fits(v.value, v.grad, ms, vs, &rule) {
            return Err(refused_update(v.id, v.grad));
        }
        adam_apply(v.value, v.grad, ms, vs, &rule);
        Ok(())
    }

    /// # Errors
    /// As [`adam_step`]: [`Error::InvalidParameter`] for a setting out of range (see
    /// [`Adam::validate`]), [`Error::TooSmall`] when the graph has more than `P`
    /// trainable scalars, [`Error::NonFinite`] for an overflowing update (nothing is changed
    /// then, the update counter included).
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        let [m, v] = &mut self.moments;
        adam_step(
            g,
            m,
            v,
            &mut self.t,
            [self.learning_rate, self.beta1, self.beta2, self.epsilon],
        )
    }

    fn state(&self) -> &[T] {
        self.moments.as_flattened()
    }

    fn state_mut(&mut self) -> &mut [T] {
        self.moments.as_flattened_mut()
    }

    fn update_count(&self) -> u32 {
        self.t
    }

    fn set_update_count(&mut self, count: u32) {
        self.t = count;
    }

    /// Kind, `β1`, `β2` and `ε`.
    fn fingerprint(&self) -> u32 {
        crate::checkpoint::Fingerprint::new(b"adam")
            .scalar(self.beta1)
            .scalar(self.beta2)
            .scalar(self.epsilon)
            .finish()
    }
}

impl<T: Scalar, const P: usize> LearningRate<T> for Adam<T, P> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: T) {
        self.learning_rate = lr;
    }
}

/// Adam's rule at one update: its settings and the two bias corrections, computed once per
/// update (each a `powf`) for the rule and for the overflow bound alike.
#[derive(Clone, Copy)]
pub(super) struct AdamRule<T> {
    lr: T,
    b1: T,
    b2: T,
    eps: T,
    /// `1 − β₁ᵗ`.
    c1: T,
    /// `1 − β₂ᵗ`.
    c2: T,
}

/// Adam's rule at update `count`; `hyper` is `[η, β1, β2, ε]`.
pub(super) fn adam_rule<T: Scalar>(hyper: [T; 4], count: u32) -> AdamRule<T> {
    let [lr, b1, b2, eps] = hyper;
    let t = T::from_f64(f64::from(count));
    AdamRule {
        lr,
        b1,
        b2,
        eps,
        c1: T::ONE - b1.powf(t),
        c2: T::ONE - b2.powf(t),
    }
}

impl<T: Scalar> AdamRule<T> {
    /// One entry: `(w, d, m, s) ↦ (w', m', s')`.
    #[inline]
    pub(super) fn apply(&self, w: T, d: T, m: T, s: T) -> (T, T, T) {
        let m = self.b1 * m + (T::ONE - self.b1) * d;
        let s = self.b2 * s + (T::ONE - self.b2) * d * d;
        let m_hat = m / self.c1;
        let v_hat = s / self.c2;
        (w - self.lr * m_hat / (v_hat.sqrt() + self.eps), m, s)
    }

    /// `k = max(η/(c₁ε), η/c₁, 1/c₁)`, the factor of [`adam_fits`]'s bound.
    fn bound(&self) -> T {
        let inv = T::ONE / self.c1;
        (self.lr * inv / self.eps).max(self.lr * inv).max(inv)
    }
}

/// Whether `rule` keeps every weight and moment of one variable finite.
///
/// Exact, but cheap: one pass takes the largest `|w|`, `|m|`, `|d|` and `s` of the variable
/// (and whether every `d` is finite; the weights and moments always are). The new moments are
/// convex combinations, `|m'| ≤ max(|m|, |d|)` and `s' ≤ max(s, d²)` up to a few roundings,
/// and every intermediate of the rule and its result are at most `|m'|·k` or
/// `|w| + |m'|·k`, with `k = max(η/(c₁ε), η/c₁, 1/c₁)` (`c₁ = 1 − β₁ᵗ`). When `4·max|w|`,
/// `4·M·k` and `4·max(s, d²)` are finite (`M = max(|m|, |d|)`; the factor 4 covers the
/// roundings), every entry fits without its `sqrt` and divisions. Otherwise the rule itself
/// decides, entry by entry, so nothing that fits is refused. This keeps the check to a few
/// comparisons per weight instead of a second run of the update.
pub(super) fn adam_fits<T: Scalar>(
    value: &[T],
    grad: &[T],
    ms: &[T],
    vs: &[T],
    rule: &AdamRule<T>,
) -> bool {
    let k = rule.bound();
    let four = T::from_f64(4.0);
    let (mut wmax, mut mmax, mut smax, mut dnan) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
    for (((&w, &d), &m), &s) in value.iter().zip(grad).zip(ms).zip(vs) {
        wmax = wmax.max(w.abs());
        mmax = mmax.max(m.abs()).max(d.abs());
        smax = smax.max(s);
        // NaN once any `d` is infinite or NaN (the maxima above would drop a NaN).
        dnan += d * T::ZERO;
    }
    let sure = dnan == T::ZERO
        && (wmax * four).is_finite()
        && (mmax * k * four).is_finite()
        && (smax * four).is_finite()
        && (mmax * mmax * four).is_finite();
    sure || {
        let mut entries = value.iter().zip(grad).zip(ms).zip(vs);
        entries.all(|(((&w, &d), &m), &s)| {
            let (w, m, s) = rule.apply(w, d, m, s);
            w.is_finite() && m.is_finite() && s.is_finite()
        })
    }
}

/// Applies `rule` to one variable's weights and moments.
fn adam_apply<T: Scalar>(
    value: &mut [T],
    grad: &[T],
    ms: &mut [T],
    vs: &mut [T],
    rule: &AdamRule<T>,
) {
    for (((w, &d), m), s) in value.iter_mut().zip(grad).zip(ms).zip(vs) {
        (*w, *m, *s) = rule.apply(*w, d, *m, *s);
    }
}

/// Adam's update (the rule of [`Adam`]) with the moments in a caller's slices, indexed by the
/// variables' offsets, and the update counter `count`; `hyper` is `[η, β1, β2, ε]`. For callers
/// that keep the state elsewhere, like the C API.
///
/// A dry run comes first, so an update that would make a variable or a moment non-finite is
/// refused before anything changes (the counter included).
///
/// # Errors
/// [`Error::InvalidParameter`] for a learning rate that is negative, NaN or infinite, an `ε`
/// that is not finite and `≥ 0`, or a `β1` or `β2` outside `[0, 1)` (with `β1 = 1` the bias
/// correction divides by zero);
/// [`Error::TooSmall`] when a moment slice is shorter than the graph's trainable
/// scalars; [`Error::NonFinite`] for an overflowing update. Nothing changes on an error.
pub fn adam_step<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    first: &mut [T],
    second: &mut [T],
    count_ref: &mut u32,
    hyper: [T; 4],
) -> Result<(), Error> {
    let [lr, b1, b2, eps] = hyper;
    check_adam(lr, b1, b2, eps)?;
    check_capacity(g, first.len().min(second.len()))?;
    let count = count_ref.saturating_add(1);
    let rule = adam_rule(hyper, count);
    // A dry run first: an update that would overflow is refused before anything changes
    // (the update counter included).
    let (ms, vs): (&[T], &[T]) = (first, second);
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let range = v.offset..v.offset + v.value.len();
        let (Some(ms), Some(vs)) = (ms.get(range.clone()), vs.get(range.clone())) else {
            return Err(state_too_small(range.end, ms.len().min(vs.len())));
        };
        if adam_fits(v.value, v.grad, ms, vs, &rule) {
            Ok(())
        } else {
            Err(refused_update(v.id, v.grad))
        }
    })?;
    *count_ref = count;
    let (ms, vs) = (first, second);
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let range = v.offset..v.offset + v.value.len();
        let available = ms.len().min(vs.len());
        let (Some(ms), Some(vs)) = (ms.get_mut(range.clone()), vs.get_mut(range.clone())) else {
            return Err(state_too_small(range.end, available));
        };
        adam_apply(v.value, v.grad, ms, vs, &rule);
        Ok(())
    })
}
