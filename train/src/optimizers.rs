//! Optimizers beyond plain gradient descent — [`Momentum`] (classical or Nesterov) and
//! [`Adam`] — with their per-parameter state in fixed arrays, the [`LearningRate`] hook that
//! schedules use, and gradient clipping by global norm ([`clip_grad_norm`]).
//!
//! The state arrays are sized by a const generic `P`: the number of trainable scalars, which
//! [`Graph::trainable_scalars`] reports (frozen variables take no state; see
//! [`layers`](crate::layers) for `P` as a `const`, and [`Example::parameters`](crate::seed::Example::parameters)
//! for the seed nets). `P` may be larger than the graph needs (the rest is unused); when it is
//! smaller, [`Optimizer::apply`] returns [`Error::InvalidArgument`] before changing anything.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::{minimize, Adam};
//!
//! // Minimise (w − 3)² from w = 0.
//! let mut g: StdGraph<f32, 8, 16> = StdGraph::new();
//! let w = g.variable(&Matrix::new([[0.0f32]]))?;
//! let three = g.constant(&Matrix::new([[3.0f32]]))?;
//! let loss = g.mse(w, three)?;
//! let mut opt: Adam<f32, 1> = Adam::new(0.1);
//! for _ in 0..300 {
//!     minimize(&mut opt, &mut g, loss)?;
//! }
//! assert!((g.value(w)?.data[0][0] - 3.0).abs() < 0.05);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::optim::{check_decay, check_learning_rate, check_non_negative};
use crate::{GradientDescent, Optimizer};
use embedgrad_core::{Error, Graph, Op, Scalar, Tensor, VariableMut};

/// Read and set an optimizer's step size: what a [`Schedule`](crate::Schedule) drives.
pub trait LearningRate<T> {
    /// The current step size.
    fn learning_rate(&self) -> T;
    /// Sets the step size for the following updates.
    fn set_learning_rate(&mut self, lr: T);
}

impl<T: Scalar> LearningRate<T> for GradientDescent<T> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: T) {
        self.learning_rate = lr;
    }
}

/// Refuses a graph with more trainable scalars than the optimizer's state holds.
fn check_capacity<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    p: usize,
) -> Result<(), Error> {
    if g.trainable_scalars() > p {
        Err(Error::InvalidArgument)
    } else {
        Ok(())
    }
}

/// Refuses Adam settings out of range.
fn check_adam<T: Scalar>(lr: T, beta1: T, beta2: T, epsilon: T) -> Result<(), Error> {
    check_learning_rate(lr)?;
    check_decay("beta1", beta1)?;
    check_decay("beta2", beta2)?;
    // ε = 0 is allowed (exact arithmetic in tests); a zero gradient then makes 0/0, which the
    // update's own check refuses as non-finite.
    check_non_negative("epsilon", epsilon)
}

/// Stochastic gradient descent with momentum, classical or Nesterov, with one velocity per
/// trainable scalar.
///
/// Per scalar `w` with gradient `d` and velocity `v` (initially 0), in the form PyTorch uses:
///
/// - classical: `v ← μ·v + d`, then `w ← w − η·v`;
/// - Nesterov: `v ← μ·v + d`, then `w ← w − η·(d + μ·v)`.
///
/// With a constant `η` the classical form equals the other common one (`v ← μv − ηd`,
/// `w ← w + v`). `μ = 0` is plain gradient descent. Variables the last backprop did not reach
/// are not updated and keep their velocity.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{minimize, Momentum};
/// // J = w², dJ/dw = 2w, from w = 1 with η = 0.1, μ = 0.9.
/// let mut g: StdGraph<f64, 4, 8> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.0]]))?;
/// let sq = g.square(w)?;
/// let loss = g.reduce_sum(sq)?;
/// let mut opt: Momentum<f64, 1> = Momentum::new(0.1, 0.9);
/// minimize(&mut opt, &mut g, loss)?; // v = 2,             w = 1 − 0.2   = 0.8
/// minimize(&mut opt, &mut g, loss)?; // v = 0.9·2 + 1.6 = 3.4, w = 0.8 − 0.34 = 0.46
/// assert!((g.value(w)?.data[0][0] - 0.46).abs() < 1e-15);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Momentum<T, const P: usize> {
    /// Step size `η`.
    pub learning_rate: T,
    /// Momentum `μ` (typically 0.9).
    pub momentum: T,
    /// Nesterov's variant when `true`.
    pub nesterov: bool,
    velocity: [T; P],
}

impl<T: Scalar, const P: usize> Momentum<T, P> {
    /// Classical momentum with step size `learning_rate` and momentum `momentum`.
    pub const fn new(learning_rate: T, momentum: T) -> Self {
        Self {
            learning_rate,
            momentum,
            nesterov: false,
            velocity: [T::ZERO; P],
        }
    }

    /// Nesterov momentum with step size `learning_rate` and momentum `momentum`.
    pub const fn nesterov(learning_rate: T, momentum: T) -> Self {
        Self {
            learning_rate,
            momentum,
            nesterov: true,
            velocity: [T::ZERO; P],
        }
    }

    /// The velocities, one per trainable scalar in [`Graph::for_each_variable`] order.
    pub fn velocity(&self) -> &[T] {
        &self.velocity
    }

    /// Forgets the velocities (back to the state of a new optimizer).
    pub fn reset(&mut self) {
        self.velocity = [T::ZERO; P];
    }

    /// Checks the settings, as [`Optimizer::apply`] does before each update (the
    /// constructors are `const` and do not).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (name, value, range) for a learning rate that is negative,
    /// NaN or infinite, or a momentum outside `[0, 1)`.
    pub fn validate(&self) -> Result<(), Error> {
        check_learning_rate(self.learning_rate)?;
        check_decay("momentum", self.momentum)
    }
}

impl<T: Scalar, const P: usize> Optimizer<T> for Momentum<T, P> {
    fn begin_step(&mut self) -> Result<(), Error> {
        self.validate()
    }

    fn update_variable(&mut self, v: VariableMut<'_, T>) -> Result<(), Error> {
        let rule = momentum_rule(self.learning_rate, self.momentum, self.nesterov);
        let vel = self
            .velocity
            .get_mut(v.offset..v.offset + v.value.len())
            .ok_or(Error::InvalidArgument)?;
        if !momentum_fits(v.value, v.grad, vel, rule) {
            return Err(Error::NonFinite);
        }
        momentum_apply(v.value, v.grad, vel, rule);
        Ok(())
    }

    /// # Errors
    /// As [`momentum_step`]: [`Error::InvalidParameter`] for a setting out of range (see
    /// [`Momentum::validate`]), [`Error::InvalidArgument`] when the graph has more than `P`
    /// trainable scalars, [`Error::NonFinite`] for an overflowing update (nothing is changed
    /// then).
    fn apply<O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
    ) -> Result<(), Error> {
        momentum_step(
            g,
            &mut self.velocity,
            self.learning_rate,
            self.momentum,
            self.nesterov,
        )
    }

    fn state(&self) -> &[T] {
        &self.velocity
    }

    /// Kind, momentum and Nesterov's flag.
    fn fingerprint(&self) -> u32 {
        crate::checkpoint::Fingerprint::new(b"momentum")
            .scalar(self.momentum)
            .flag(self.nesterov)
            .finish()
    }

    fn state_mut(&mut self) -> &mut [T] {
        &mut self.velocity
    }
}

impl<T: Scalar, const P: usize> LearningRate<T> for Momentum<T, P> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, lr: T) {
        self.learning_rate = lr;
    }
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
        let (Some(ms), Some(vs)) = (m.get_mut(range.clone()), s.get_mut(range)) else {
            return Err(Error::InvalidArgument);
        };
        if !adam_fits(v.value, v.grad, ms, vs, &rule) {
            return Err(Error::NonFinite);
        }
        adam_apply(v.value, v.grad, ms, vs, &rule);
        Ok(())
    }

    /// # Errors
    /// As [`adam_step`]: [`Error::InvalidParameter`] for a setting out of range (see
    /// [`Adam::validate`]), [`Error::InvalidArgument`] when the graph has more than `P`
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

/// The global L2 norm of the gradients of the variables the last backprop reached, computed
/// without overflow (scaled by the largest magnitude).
///
/// # Errors
/// [`Error::NonFinite`] when a gradient is NaN or infinite.
pub fn grad_norm<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
) -> Result<T, Error> {
    let mut big = T::ZERO;
    g.for_each_variable(|v| {
        if v.reached {
            for &d in v.grad {
                if !d.is_finite() {
                    return Err(Error::NonFinite);
                }
                big = big.max(d.abs());
            }
        }
        Ok(())
    })?;
    if big == T::ZERO {
        return Ok(T::ZERO);
    }
    let inv = T::ONE / big;
    let mut sum = T::ZERO;
    g.for_each_variable(|v| {
        if v.reached {
            for &d in v.grad {
                let r = d * inv;
                sum += r * r;
            }
        }
        Ok::<(), Error>(())
    })?;
    Ok(big * sum.sqrt())
}

/// Gradient clipping by global norm: when the L2 norm of all gradients (of the variables the
/// last backprop reached) exceeds `max_norm`, scales every gradient by `max_norm / norm`, so
/// the update keeps its direction but not its size. Call it between backprop and the
/// optimizer's [`Optimizer::apply`] — it works with any optimizer — or use
/// [`minimize_clipped`]. Returns the norm before clipping (worth logging: spikes show
/// instability).
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::{clip_grad_norm, GradientDescent, Optimizer};
/// let mut g: StdGraph<f64, 4, 16> = StdGraph::new();
/// let w = g.variable(&Matrix::new([[1.5, 2.0]]))?;
/// let sq = g.square(w)?;
/// let loss = g.reduce_sum(sq)?;
/// g.forward_backward(loss)?; // gradient (3, 4): norm 5
/// assert_eq!(clip_grad_norm(&mut g, 2.5)?, 5.0);
/// assert_eq!(g.grad(w)?, Matrix::new([[1.5, 2.0]])); // norm 2.5
/// GradientDescent::new(0.5).apply(&mut g)?;
/// assert_eq!(g.value(w)?, Matrix::new([[0.75, 1.0]]));
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] unless `max_norm` is positive and finite; [`Error::NonFinite`]
/// when a gradient is NaN or infinite. Gradients are unchanged on error.
pub fn clip_grad_norm<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    max_norm: T,
) -> Result<T, Error> {
    if !(max_norm.is_finite() && max_norm > T::ZERO) {
        return Err(Error::InvalidArgument);
    }
    let norm = grad_norm(g)?;
    if norm > max_norm {
        g.scale_grads(max_norm / norm);
    }
    Ok(norm)
}

/// [`minimize`](crate::minimize) with [`clip_grad_norm`] between backprop and the update:
/// forward, backward, clip to `max_norm`, update. Returns the loss before the update and the
/// gradient norm before clipping.
///
/// # Errors
/// As [`minimize`](crate::minimize) and [`clip_grad_norm`]; no variable changes on error.
pub fn minimize_clipped<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    opt: &mut impl Optimizer<T>,
    g: &mut Graph<T, O, N, S>,
    loss: Tensor<1, 1>,
    max_norm: T,
) -> Result<(T, T), Error> {
    if !(max_norm.is_finite() && max_norm > T::ZERO) {
        return Err(Error::InvalidArgument);
    }
    let l = g.forward_backward(loss)?;
    if !l.is_finite() {
        return Err(Error::NonFinite);
    }
    let norm = clip_grad_norm(g, max_norm)?;
    opt.apply(g)?;
    Ok((l, norm))
}

/// Momentum's update (the rule of [`Momentum`]) with the velocities in a caller's slice, indexed
/// by the variables' offsets: for callers that keep the state elsewhere, like the C API.
///
/// A dry run comes first, so an update that would make a variable or a velocity non-finite is
/// refused before anything changes.
///
/// # Errors
/// [`Error::InvalidParameter`] for a learning rate that is negative, NaN or infinite, or a
/// momentum outside `[0, 1)`; [`Error::InvalidArgument`] when `velocity` is shorter than the
/// graph's trainable scalars; [`Error::NonFinite`] for an overflowing update. Nothing changes
/// on an error.
pub fn momentum_step<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &mut Graph<T, O, N, S>,
    velocity: &mut [T],
    learning_rate: T,
    momentum: T,
    nesterov: bool,
) -> Result<(), Error> {
    check_learning_rate(learning_rate)?;
    check_decay("momentum", momentum)?;
    check_capacity(g, velocity.len())?;
    let rule = momentum_rule(learning_rate, momentum, nesterov);
    // A dry run first: an update that would overflow is refused before anything changes.
    let state: &[T] = velocity;
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let vel = state
            .get(v.offset..v.offset + v.value.len())
            .ok_or(Error::InvalidArgument)?;
        if momentum_fits(v.value, v.grad, vel, rule) {
            Ok(())
        } else {
            Err(Error::NonFinite)
        }
    })?;
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let vel = velocity
            .get_mut(v.offset..v.offset + v.value.len())
            .ok_or(Error::InvalidArgument)?;
        momentum_apply(v.value, v.grad, vel, rule);
        Ok(())
    })
}

/// The momentum rule for one entry: `(w, d, u) ↦ (w − η·step, u')` with `u' = μu + d` and
/// `step = u'` (classical) or `d + μu'` (Nesterov).
fn momentum_rule<T: Scalar>(lr: T, mu: T, nesterov: bool) -> impl Fn(T, T, T) -> (T, T) + Copy {
    move |w, d, u| {
        let u = mu * u + d;
        let step = if nesterov { d + mu * u } else { u };
        (w - lr * step, u)
    }
}

/// Whether `rule` keeps every weight and velocity of one variable finite.
fn momentum_fits<T: Scalar>(
    value: &[T],
    grad: &[T],
    vel: &[T],
    rule: impl Fn(T, T, T) -> (T, T),
) -> bool {
    value.iter().zip(grad).zip(vel).all(|((&w, &d), &u)| {
        let (w, u) = rule(w, d, u);
        w.is_finite() && u.is_finite()
    })
}

/// Applies `rule` to one variable's weights and velocities.
fn momentum_apply<T: Scalar>(
    value: &mut [T],
    grad: &[T],
    vel: &mut [T],
    rule: impl Fn(T, T, T) -> (T, T),
) {
    for ((w, &d), u) in value.iter_mut().zip(grad).zip(vel) {
        (*w, *u) = rule(*w, d, *u);
    }
}

/// Adam's rule at one update: its settings and the two bias corrections, computed once per
/// update (each a `powf`) for the rule and for the overflow bound alike.
#[derive(Clone, Copy)]
struct AdamRule<T> {
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
fn adam_rule<T: Scalar>(hyper: [T; 4], count: u32) -> AdamRule<T> {
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
    fn apply(&self, w: T, d: T, m: T, s: T) -> (T, T, T) {
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
fn adam_fits<T: Scalar>(value: &[T], grad: &[T], ms: &[T], vs: &[T], rule: &AdamRule<T>) -> bool {
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
/// [`Error::InvalidArgument`] when a moment slice is shorter than the graph's trainable
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
        let (Some(ms), Some(vs)) = (ms.get(range.clone()), vs.get(range)) else {
            return Err(Error::InvalidArgument);
        };
        if adam_fits(v.value, v.grad, ms, vs, &rule) {
            Ok(())
        } else {
            Err(Error::NonFinite)
        }
    })?;
    *count_ref = count;
    let (ms, vs) = (first, second);
    g.for_each_variable(|v| {
        if !v.reached {
            return Ok(());
        }
        let range = v.offset..v.offset + v.value.len();
        let (Some(ms), Some(vs)) = (ms.get_mut(range.clone()), vs.get_mut(range)) else {
            return Err(Error::InvalidArgument);
        };
        adam_apply(v.value, v.grad, ms, vs, &rule);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
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
    use crate::{minimize, seed};
    use embedgrad_core::Matrix;
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
            assert_eq!(minimize(opt, &mut g, loss), Err(Error::NonFinite));
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
    fn quadratic<const C: usize>(
        w0: [f64; C],
    ) -> (StdGraph<f64, 4, 16>, Tensor<1, C>, Tensor<1, 1>) {
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
        let mut m: Momentum<f64, 2> = Momentum::new(0.1, 0.9);
        assert_eq!(m.apply(&mut g), Err(Error::InvalidArgument));
        let mut a: Adam<f64, 2> = Adam::new(0.1);
        assert_eq!(a.apply(&mut g), Err(Error::InvalidArgument));
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
            assert_eq!(clip_grad_norm(&mut g, bad), Err(Error::InvalidArgument));
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
            Err(Error::InvalidArgument)
        );
    }

    /// Trains the perceptron seed example (full batch, its specified init) with an optimizer;
    /// returns the loss after the last update and the points classified correctly.
    fn train_perceptron(opt: &mut impl Optimizer<f64>, steps: usize) -> (f64, usize) {
        let ex = seed::Example::Perceptron;
        let (mut xs, mut cs, mut labels) = ([0.0f64; 200], [0.0f64; 200], [0u8; 100]);
        let mut rng = seed::fill(ex, &mut xs, &mut cs, &mut labels).unwrap();
        let mut g: Box<StdGraph<f64, 16, 4096>> = Box::new(StdGraph::new());
        let net = seed::build::<f64, _, 16, 4096, 100>(ex, &mut g, &mut rng).unwrap();
        g.feed_slice(net.x.id(), &xs).unwrap();
        g.feed_slice(net.c.id(), &cs).unwrap();
        for _ in 0..steps {
            minimize(opt, &mut g, net.loss).unwrap();
        }
        let feeds = crate::Feeds {
            x: net.x.id(),
            y: net.c.id(),
            loss: net.loss.id(),
        };
        crate::evaluate(&mut g, feeds, net.p.id(), &xs, &cs, &labels).unwrap()
    }

    #[test]
    fn every_optimizer_separates_the_perceptron_blobs() {
        // A convex problem (softmax regression on two separable blobs): from the seed's init,
        // every optimizer must classify all 100 points and bring the loss (69.3 at chance)
        // far down within the seed's 100 steps. Momentum uses η/10: the same effective step.
        let runs: [(&str, (f64, usize)); 4] = [
            (
                "gradient descent",
                train_perceptron(&mut GradientDescent::new(0.01), 100),
            ),
            (
                "momentum",
                train_perceptron(&mut Momentum::<f64, 6>::new(0.001, 0.9), 100),
            ),
            (
                "Nesterov",
                train_perceptron(&mut Momentum::<f64, 6>::nesterov(0.001, 0.9), 100),
            ),
            ("Adam", train_perceptron(&mut Adam::<f64, 6>::new(0.1), 100)),
        ];
        for (name, (loss, correct)) in runs {
            std::println!("perceptron, 100 steps, {name}: loss {loss:.4}, {correct}/100");
            assert!(loss < 5.0 && correct == 100, "{name}: {loss}, {correct}");
        }
    }
}
