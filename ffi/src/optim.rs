//! Training: optimizers in caller memory, the minimise step, micro-batch accumulation.
//!
//! An `eg_optimizer` is a plain C struct (every bit pattern is a valid value, so nothing C does
//! to it can make Rust misbehave); its fields are private and checked on every use. Its kind
//! selects the update rule: gradient descent, momentum (classical or Nesterov) or Adam. The
//! per-parameter state of momentum and Adam lives in a float array of the caller that the
//! struct points to, so the struct has one size whatever the network.
//!
//! The update rules are `embedgrad-train`'s own: [`Momentum`](embedgrad_train::Momentum) and
//! [`Adam`](embedgrad_train::Adam) keep their state in a const-generic array inside the
//! optimizer and call [`momentum_step`](embedgrad_train::momentum_step) and
//! [`adam_step`](embedgrad_train::adam_step) on it; here the same functions run on the caller's
//! array (a test checks that both give the same bits). An update that would overflow is
//! refused with `NON_FINITE` and changes nothing.

use crate::graph::{handle, outside, scalar_node, with_graph, EgGraph};
use crate::guard::{self, check_ptr, Out, Span};
use crate::status::{EgErrorInfo, EgStatus, Fail};
use crate::{EgNode, FfiGraph};
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, Op};
use embedgrad_train::{Adam, Feeds, GradientDescent, Momentum, Optimizer};

/// "EGOP": marks an optimizer that an init function filled in.
const OPTIMIZER_MAGIC: u32 = 0x4547_4F50;

/// The update rule of an `eg_optimizer`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgOptimizerKind {
    /// Gradient descent, `w <- w - lr * dJ/dw` (the tutorial's `GradientDescentOptimizer`).
    /// No state.
    Sgd = 1,
    /// Classical momentum: `v <- mu * v + d`, `w <- w - lr * v`. One float of state per
    /// trainable scalar.
    Momentum = 2,
    /// Nesterov momentum: `v <- mu * v + d`, `w <- w - lr * (d + mu * v)`. One float of state
    /// per trainable scalar.
    Nesterov = 3,
    /// Adam with bias correction. Two floats of state per trainable scalar.
    Adam = 4,
}

/// An optimizer in caller memory: declare one (static, on the stack, in a struct) and fill it
/// with `eg_sgd_init`, `eg_momentum_init` or `eg_adam_init`. The fields are private: set them
/// only through the functions of this library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EgOptimizer {
    pub(crate) magic: u32,
    pub(crate) kind: u32,
    pub(crate) learning_rate: f32,
    /// Momentum `mu`, or Adam's `beta1`.
    pub(crate) beta1: f32,
    /// Adam's `beta2`.
    pub(crate) beta2: f32,
    /// Adam's `epsilon`.
    pub(crate) epsilon: f32,
    /// Updates applied so far (Adam's `t`).
    pub(crate) updates: u32,
    /// Per-parameter state in caller memory (momentum, Adam), or NULL.
    pub(crate) state: *mut f32,
    /// Floats at `state`.
    pub(crate) state_len: usize,
}

/// A checked optimizer, ready to update a graph.
enum Rule<'a> {
    Sgd(GradientDescent<f32>),
    Momentum {
        lr: f32,
        mu: f32,
        nesterov: bool,
        velocity: &'a mut [f32],
    },
    Adam {
        lr: f32,
        b1: f32,
        b2: f32,
        eps: f32,
        t: &'a mut u32,
        /// The first moments, then as many second moments: one slice, so that the state a
        /// checkpoint saves is `[m, v]` as `embedgrad_train::Adam`'s.
        moments: &'a mut [f32],
    },
}

impl Rule<'_> {
    /// The trainable scalars the state holds (`usize::MAX` for stateless rules).
    fn capacity(&self) -> usize {
        match self {
            Rule::Sgd(_) => usize::MAX,
            Rule::Momentum { velocity, .. } => velocity.len(),
            Rule::Adam { moments, .. } => moments.len() / 2,
        }
    }

    /// Zeroes the state.
    fn clear(&mut self) {
        match self {
            Rule::Momentum { velocity, .. } => velocity.fill(0.0),
            Rule::Adam { moments, .. } => moments.fill(0.0),
            Rule::Sgd(_) => {}
        }
    }

    /// BUFFER_TOO_SMALL when the state does not hold every trainable scalar of the graph.
    fn check(&self, graph: &FfiGraph) -> Result<(), Fail> {
        if graph.trainable_scalars() > self.capacity() {
            Err(Fail::too_small(graph.trainable_scalars(), self.capacity()))
        } else {
            Ok(())
        }
    }
}

impl Optimizer<f32> for Rule<'_> {
    fn apply<O: Op<f32>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<f32, O, N, S>,
    ) -> Result<(), Error> {
        if g.trainable_scalars() > self.capacity() {
            return Err(Error::InvalidArgument);
        }
        match self {
            Rule::Sgd(o) => o.apply(g),
            Rule::Momentum {
                lr,
                mu,
                nesterov,
                velocity,
            } => embedgrad_train::momentum_step(g, velocity, *lr, *mu, *nesterov),
            Rule::Adam {
                lr,
                b1,
                b2,
                eps,
                t,
                moments,
            } => {
                let half = moments.len() / 2;
                let (m, v) = moments.split_at_most_mut(half);
                embedgrad_train::adam_step(g, m, v, t, [*lr, *b1, *b2, *eps])
            }
        }
    }

    /// The whole state array (for Adam its first `2 * (state_len / 2)` floats): a checkpoint
    /// restores only into an optimizer whose state has the same length.
    fn state(&self) -> &[f32] {
        match self {
            Rule::Sgd(_) => &[],
            Rule::Momentum { velocity, .. } => velocity,
            Rule::Adam { moments, .. } => moments,
        }
    }

    fn state_mut(&mut self) -> &mut [f32] {
        match self {
            Rule::Sgd(_) => &mut [],
            Rule::Momentum { velocity, .. } => velocity,
            Rule::Adam { moments, .. } => moments,
        }
    }

    fn update_count(&self) -> u32 {
        match self {
            Rule::Adam { t, .. } => **t,
            _ => 0,
        }
    }

    fn set_update_count(&mut self, count: u32) {
        if let Rule::Adam { t, .. } = self {
            **t = count;
        }
    }

    /// `embedgrad-train`'s own fingerprints (its optimizers of the same kind and settings):
    /// a checkpoint of this optimizer restores into the same kind with the same settings only.
    fn fingerprint(&self) -> u32 {
        match self {
            Rule::Sgd(o) => o.fingerprint(),
            Rule::Momentum {
                lr, mu, nesterov, ..
            } => {
                if *nesterov {
                    embedgrad_train::Momentum::<f32, 0>::nesterov(*lr, *mu).fingerprint()
                } else {
                    embedgrad_train::Momentum::<f32, 0>::new(*lr, *mu).fingerprint()
                }
            }
            Rule::Adam {
                lr, b1, b2, eps, ..
            } => embedgrad_train::Adam::<f32, 0>::with(*lr, *b1, *b2, *eps).fingerprint(),
        }
    }
}

/// An optimizer as a checkpoint sees it: the rule, and the update count of every kind (Adam
/// keeps its own as `t`; the others count in `eg_optimizer.updates`, which the record carries
/// too).
pub(crate) struct Checkpointed<'a> {
    rule: Rule<'a>,
    count: u32,
}

impl Checkpointed<'_> {
    /// The update count after a restore, for kinds other than Adam.
    fn count(&self) -> Option<u32> {
        match self.rule {
            Rule::Adam { .. } => None,
            _ => Some(self.count),
        }
    }
}

impl Optimizer<f32> for Checkpointed<'_> {
    fn apply<O: Op<f32>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<f32, O, N, S>,
    ) -> Result<(), Error> {
        self.rule.apply(g)
    }
    fn state(&self) -> &[f32] {
        self.rule.state()
    }
    fn state_mut(&mut self) -> &mut [f32] {
        self.rule.state_mut()
    }
    fn update_count(&self) -> u32 {
        self.count().unwrap_or(self.rule.update_count())
    }
    fn set_update_count(&mut self, count: u32) {
        self.count = count;
        self.rule.set_update_count(count);
    }
    fn fingerprint(&self) -> u32 {
        self.rule.fingerprint()
    }
}

/// Runs `f` on a checked optimizer as a checkpoint sees it, and keeps the update count it
/// ends with. The optimizer must lie outside the graph's span `graph` and `others` (the call's
/// other buffers), and its state outside all of them.
///
/// # Safety
/// `opt` as in `eg_sgd_init`, with its state array.
pub(crate) unsafe fn with_checkpointed<R>(
    opt: *mut EgOptimizer,
    graph: Span,
    others: [Span; 3],
    f: impl FnOnce(&mut Checkpointed<'_>) -> Result<R, Fail>,
) -> Result<R, Fail> {
    // SAFETY: forwarded contract.
    let (o, os) = unsafe { optimizer(opt, graph) }?;
    guard::disjoint(os, &others)?;
    let [a, b, c] = others;
    let count = o.updates;
    let (result, after) = {
        // SAFETY: the state array of an initialised optimizer is valid (the init contract).
        let rule = unsafe { o.rule(&[graph, os, a, b, c]) }?;
        let mut ck = Checkpointed { rule, count };
        let r = f(&mut ck);
        (r, ck.count())
    };
    if let (Ok(_), Some(n)) = (&result, after) {
        o.updates = n;
    }
    result
}

fn valid_rate(lr: f32) -> Result<f32, Fail> {
    // The Rust optimizers' own check, so that C and Rust accept the same settings.
    GradientDescent::try_new(lr)?;
    Ok(lr)
}

/// A momentum in `[0, 1)` (the Rust optimizer's check).
fn valid_momentum(lr: f32, mu: f32) -> Result<f32, Fail> {
    Momentum::<f32, 0>::new(lr, mu).validate()?;
    Ok(mu)
}

impl EgOptimizer {
    /// Checks the fields and makes the rule; the state must lie outside `others` (the graph,
    /// this struct, the call's buffers).
    ///
    /// # Safety
    /// A non-zero `state_len` with a non-NULL, aligned `state` must describe a float array of
    /// the caller that nothing else accesses during the call (the contract of the init
    /// functions: the array outlives the optimizer's use).
    unsafe fn rule<'a>(&'a mut self, others: &[Span]) -> Result<Rule<'a>, Fail> {
        if self.magic != OPTIMIZER_MAGIC {
            return Err(EgStatus::NotInitialised.into());
        }
        let lr = valid_rate(self.learning_rate)?;
        let kind = self.kind;
        let state: &'a mut [f32] = if self.state_len == 0 {
            &mut []
        } else {
            // SAFETY: forwarded contract; NULL, alignment, length and overlap are checked.
            unsafe { guard::output(self.state, self.state_len, others) }?
        };
        const SGD: u32 = EgOptimizerKind::Sgd as u32;
        const MOMENTUM: u32 = EgOptimizerKind::Momentum as u32;
        const NESTEROV: u32 = EgOptimizerKind::Nesterov as u32;
        const ADAM: u32 = EgOptimizerKind::Adam as u32;
        match kind {
            SGD => Ok(Rule::Sgd(GradientDescent::new(lr))),
            MOMENTUM | NESTEROV => Ok(Rule::Momentum {
                lr,
                mu: valid_momentum(lr, self.beta1)?,
                nesterov: kind == NESTEROV,
                velocity: state,
            }),
            ADAM => {
                let (b1, b2, eps) = (self.beta1, self.beta2, self.epsilon);
                // The Rust optimizer's check of every setting.
                Adam::<f32, 0>::with(lr, b1, b2, eps).validate()?;
                let whole = state.len() / 2 * 2;
                let moments = state.get_mut(..whole).unwrap_or(&mut []);
                Ok(Rule::Adam {
                    lr,
                    b1,
                    b2,
                    eps,
                    t: &mut self.updates,
                    moments,
                })
            }
            _ => Err(EgStatus::NotInitialised.into()),
        }
    }
}

/// Checks an optimizer pointer against the graph's memory and returns the optimizer.
///
/// # Safety
/// A non-NULL, aligned `opt` must be valid for reads and writes of one `EgOptimizer` that
/// nothing else accesses during the call.
unsafe fn optimizer<'a>(
    opt: *mut EgOptimizer,
    graph: Span,
) -> Result<(&'a mut EgOptimizer, Span), Fail> {
    check_ptr(opt.cast_const())?;
    let span = Span::of(opt.cast_const(), 1)?;
    outside(span, graph)?;
    // SAFETY: non-NULL and aligned (checked above), valid and exclusively ours (the caller's
    // contract), disjoint from the graph (checked above); every bit pattern is a valid
    // `EgOptimizer` (integers, floats and a raw pointer), so even memory C never initialised
    // through this library is a value; its magic is checked before use.
    Ok((unsafe { &mut *opt }, span))
}

/// Fills `*opt` (checked, then written whole) from a template and a state array.
///
/// # Safety
/// `opt` as in `eg_sgd_init`; `state` is NULL or points to `state_len` floats.
unsafe fn init(
    opt: *mut EgOptimizer,
    template: EgOptimizer,
    state: *mut f32,
    state_len: usize,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: forwarded contract; no graph is involved.
        let (o, os) = unsafe { optimizer(opt, Span::EMPTY) }?;
        let mut t = template;
        // The rule's own checks, on a copy (its state is checked here, not yet zeroed).
        t.magic = OPTIMIZER_MAGIC;
        t.state = state;
        t.state_len = state_len;
        // SAFETY: forwarded contract for `state`; it must lie outside the optimizer.
        unsafe { t.rule(&[os]) }?.clear();
        t.updates = 0;
        *o = t;
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

const TEMPLATE: EgOptimizer = EgOptimizer {
    magic: 0,
    kind: 0,
    learning_rate: 0.0,
    beta1: 0.0,
    beta2: 0.0,
    epsilon: 0.0,
    updates: 0,
    state: core::ptr::null_mut(),
    state_len: 0,
};

/// Fills `*opt` with a gradient-descent optimizer of step size `learning_rate`.
///
/// Errors: NULL_POINTER, MISALIGNED, INVALID_ARGUMENT (a rate that is negative, NaN or
/// infinite; `*opt` is then unchanged). A rate of 0 is accepted (a schedule may reach it),
/// as in Rust: the C API checks every setting with the Rust optimizers' own checks.
///
/// # Safety
/// `opt` is NULL or valid for reads and writes of one `eg_optimizer` that nothing else uses
/// during the call.
#[no_mangle]
pub unsafe extern "C" fn eg_sgd_init(opt: *mut EgOptimizer, learning_rate: f32) -> EgStatus {
    let t = EgOptimizer {
        kind: EgOptimizerKind::Sgd as u32,
        learning_rate,
        ..TEMPLATE
    };
    // SAFETY: same contract, no state.
    unsafe { init(opt, t, core::ptr::null_mut(), 0) }
}

/// Fills `*opt` with momentum gradient descent: step size `learning_rate`, momentum
/// `momentum` in [0, 1) (typically 0.9), classical for `nesterov == 0`, Nesterov's variant for
/// `nesterov == 1`. `state[0..state_len]` holds one velocity per trainable scalar
/// (`eg_optimizer_state_len`); it is zeroed here and must stay valid, untouched by the caller,
/// while the optimizer is used. Updates refuse, with BUFFER_TOO_SMALL, a graph with more
/// trainable scalars than `state_len`.
///
/// Errors: NULL_POINTER, MISALIGNED, INVALID_ARGUMENT (rate, momentum or `nesterov` out of
/// range), OVERLAP (`state` over `*opt`). `*opt` and `state` are unchanged on failure.
///
/// # Safety
/// As `eg_sgd_init`; `state` is NULL or points to `state_len` floats that nothing else uses
/// while the optimizer is in use.
#[no_mangle]
pub unsafe extern "C" fn eg_momentum_init(
    opt: *mut EgOptimizer,
    learning_rate: f32,
    momentum: f32,
    nesterov: u32,
    state: *mut f32,
    state_len: usize,
) -> EgStatus {
    let kind = match nesterov {
        0 => EgOptimizerKind::Momentum as u32,
        1 => EgOptimizerKind::Nesterov as u32,
        _ if opt.is_null() => return EgStatus::NullPointer,
        _ => return EgStatus::InvalidArgument,
    };
    let t = EgOptimizer {
        kind,
        learning_rate,
        beta1: momentum,
        ..TEMPLATE
    };
    // SAFETY: same contract.
    unsafe { init(opt, t, state, state_len) }
}

/// Fills `*opt` with Adam: step size `learning_rate`, decays `beta1` and `beta2` in [0, 1)
/// (0.9 and 0.999 in the paper) and `epsilon` finite and ≥ 0 (1e-8). `state[0..state_len]` holds two
/// floats per trainable scalar (`eg_optimizer_state_len`): the first moments in its first
/// half, the second moments in the second. It is zeroed here and must stay valid, untouched by
/// the caller, while the optimizer is used. Updates refuse, with BUFFER_TOO_SMALL, a graph with
/// more trainable scalars than `state_len / 2`.
///
/// Errors: as `eg_momentum_init`.
///
/// # Safety
/// As `eg_momentum_init`.
#[no_mangle]
pub unsafe extern "C" fn eg_adam_init(
    opt: *mut EgOptimizer,
    learning_rate: f32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    state: *mut f32,
    state_len: usize,
) -> EgStatus {
    let t = EgOptimizer {
        kind: EgOptimizerKind::Adam as u32,
        learning_rate,
        beta1,
        beta2,
        epsilon,
        ..TEMPLATE
    };
    // SAFETY: same contract.
    unsafe { init(opt, t, state, state_len) }
}

/// The floats of state an optimizer of `kind` (an `eg_optimizer_kind` value) needs for
/// `parameters` trainable scalars (`eg_parameter_count`): 0 for gradient descent,
/// `parameters` for momentum, `2 * parameters` for Adam.
///
/// Errors: NULL_POINTER, MISALIGNED, INVALID_ARGUMENT (unknown kind, or an overflow).
///
/// # Safety
/// `out` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_state_len(
    kind: u32,
    parameters: usize,
    out: *mut usize,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: the pointer is NULL or valid for one write (the caller's contract).
        let (o, _) = unsafe { Out::new(out, &[]) }?;
        const SGD: u32 = EgOptimizerKind::Sgd as u32;
        const MOMENTUM: u32 = EgOptimizerKind::Momentum as u32;
        const NESTEROV: u32 = EgOptimizerKind::Nesterov as u32;
        const ADAM: u32 = EgOptimizerKind::Adam as u32;
        let n = match kind {
            SGD => Some(0),
            MOMENTUM | NESTEROV => Some(parameters),
            ADAM => parameters.checked_mul(2),
            _ => None,
        };
        o.write(n.ok_or(Fail::Api(EgStatus::InvalidArgument))?);
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Forgets an optimizer's history: zeroes its state (velocities, moments) and its update
/// count, keeping its kind and hyper-parameters.
///
/// Errors: NULL_POINTER, MISALIGNED, NOT_INITIALISED, INVALID_ARGUMENT, OVERLAP.
///
/// # Safety
/// As `eg_sgd_init`, and its state array must still be valid.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_reset(opt: *mut EgOptimizer) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: forwarded contract; no graph is involved.
        let (o, os) = unsafe { optimizer(opt, Span::EMPTY) }?;
        // SAFETY: the state array of an initialised optimizer is valid (the init contract).
        unsafe { o.rule(&[os]) }?.clear();
        o.updates = 0;
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

/// Changes the learning rate of an initialised optimizer (for a schedule).
///
/// Errors: NULL_POINTER, MISALIGNED, NOT_INITIALISED, INVALID_ARGUMENT (as `eg_sgd_init`).
///
/// # Safety
/// As `eg_sgd_init`.
#[no_mangle]
pub unsafe extern "C" fn eg_optimizer_set_learning_rate(
    opt: *mut EgOptimizer,
    learning_rate: f32,
) -> EgStatus {
    let run = || -> Result<(), Fail> {
        // SAFETY: forwarded contract; no graph is involved.
        let (o, os) = unsafe { optimizer(opt, Span::EMPTY) }?;
        // SAFETY: the state array of an initialised optimizer is valid (the init contract).
        unsafe { o.rule(&[os]) }?;
        o.learning_rate = valid_rate(learning_rate)?;
        Ok(())
    };
    match run() {
        Ok(()) => EgStatus::Ok,
        Err(f) => EgErrorInfo::from(f).status,
    }
}

// Declared last, so that the generated header keeps its order: the optimizer, then the
// training calls.
mod step;
pub use step::*;
