//! The step plan: how a training step runs the graph the user built.
//!
//! The graph is what the user builds, op by op as in the tutorial; the plan is made once from
//! the loss ([`Graph::plan`](crate::Graph::plan)) and fixes how every later step runs:
//!
//! 1. **Fusion** (`build.rs`): recognised sub-graphs become one step with its own kernels —
//!    `matmul → add(row bias) → activation` is a dense layer (the pre-activation and the
//!    matmul's output are never stored; the derivative comes from the kept output), and the
//!    tutorial's `negative(reduce_sum(reduce_sum(multiply(c, log(softmax(z))), axis 1)))` or a
//!    `softmax_cross_entropy` op is one loss step that keeps `p` for its backward (`p − c`),
//!    with one `exp` per non-maximal logit and one `ln` per row. Everything else runs its
//!    op's own kernels. With fusion off every op is its own step, as the interpreter runs it.
//! 2. **Pruning**: nothing is computed for gradients that do not lead from a trainable
//!    variable to the loss (placeholders, constants, frozen variables and what depends only
//!    on them).
//! 3. **Liveness** (`build.rs`): the forward pass runs the steps in order (times `0..n`), the
//!    backward pass in reverse (times `n..2n`). Each buffer — a value a later step or the
//!    backward reads, a gradient, a loss step's `p` — lives from its first write to its last
//!    read; buffers whose lifetimes do not overlap share memory, placed greedily by size
//!    (largest first, lowest offset that fits), as TFLM's planner does.
//! 4. **Updates in the sweep** (`exec.rs`): in a plain step each variable is updated as soon as
//!    its gradient is final (after the backward of its first consumer), so its gradient
//!    buffer lives only briefly; an accumulating plan keeps the variables' gradients for
//!    the whole step and across micro-batches instead.
//!
//! The fused kernels sum in the same order as the unfused ones (the bias is added to the
//! finished dot product, the activation's derivative is the same expression), so a planned
//! dense layer gives the interpreter's numbers bit for bit. The fused loss is computed in the
//! log-sum-exp form of `softmax_cross_entropy`, which differs from the tutorial's
//! `log(softmax(z))` by rounding only (about 1e-16 relative in f64).
//!
//! The `embedgrad-ops` crate docs show a planned step of the tutorial's perceptron.

pub(crate) mod build;
pub(crate) mod exec;
pub mod kernels;

use crate::{Activation, NodeId};

/// How [`Graph::plan`](crate::Graph::plan) plans.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions<'a> {
    /// Fuse recognised patterns into dense-layer and loss steps (default `true`). Off, every
    /// op is a step of its own: the memory plan without the fused kernels.
    pub fuse: bool,
    /// Keep every trainable variable's gradient for the whole step and add to it, for
    /// micro-batch accumulation (default `false`: each gradient is applied by the update
    /// callback as soon as it is final and then forgotten).
    pub accumulate: bool,
    /// Nodes whose values must still be held after a step (for example the probabilities an
    /// evaluation reads). They are computed by every step and never fused away.
    pub keep: &'a [NodeId],
}

impl Default for PlanOptions<'_> {
    fn default() -> Self {
        Self {
            fuse: true,
            accumulate: false,
            keep: &[],
        }
    }
}

/// What a plan does and needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PlanSummary {
    /// Steps of the forward pass (each a kernel call).
    pub steps: usize,
    /// Of them, fused dense layers.
    pub dense: usize,
    /// Of them, fused softmax-cross-entropy losses.
    pub losses: usize,
    /// Buffers placed (values, gradients, kept probabilities).
    pub buffers: usize,
    /// Scalars of the shared region the buffers are placed in.
    pub region: usize,
    /// The least `SCALARS` for the planned step: the fixed values plus the region.
    pub scalars: usize,
    /// What the interpreter needs for the same graph.
    pub unplanned_scalars: usize,
}

/// What a planned buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BufferKind {
    /// A node's value.
    Value,
    /// A node's gradient.
    Grad,
    /// A fused loss's probabilities `p` (and, after its backward, the logits' gradient).
    Probs,
}

/// One placed buffer of the plan, for reports ([`Graph::plan_buffers`](crate::Graph::plan_buffers)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PlanBuffer {
    /// The node it belongs to.
    pub node: NodeId,
    /// What it holds.
    pub kind: BufferKind,
    /// Scalars.
    pub len: usize,
    /// Offset in the shared region.
    pub offset: usize,
    /// First time it is written: forward step `i` is time `i`, the backward of step `i` is
    /// time `2n − 1 − i` for `n` steps.
    pub start: usize,
    /// Last time it is read (`2n`: kept after the step).
    pub end: usize,
}

/// One step of a plan, for reports ([`Graph::plan_steps`](crate::Graph::plan_steps)).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepInfo {
    /// An op with its own kernels.
    Op {
        /// The op's node.
        node: NodeId,
        /// The op's name.
        name: &'static str,
    },
    /// A fused dense layer `act(x · w + b)`.
    Dense {
        /// The layer's output node (the activation, or the add).
        node: NodeId,
        /// The activation.
        act: Activation,
    },
    /// A fused softmax-cross-entropy.
    Loss {
        /// The loss node.
        node: NodeId,
    },
}

pub(crate) const NONE: u16 = u16::MAX;

/// The executor's entry points, stored in the graph by `plan` (see the graph's `plan_fns`).
pub(crate) struct PlanFns<T, O, const N: usize, const S: usize> {
    pub(crate) forward: fn(&mut crate::Graph<T, O, N, S>) -> Result<T, crate::Error>,
    #[allow(clippy::type_complexity)]
    pub(crate) step: fn(
        &mut crate::Graph<T, O, N, S>,
        &mut dyn FnMut(crate::VariableMut<'_, T>) -> Result<(), crate::Error>,
    ) -> Result<T, crate::Error>,
}

impl<T, O, const N: usize, const S: usize> Clone for PlanFns<T, O, N, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, O, const N: usize, const S: usize> Copy for PlanFns<T, O, N, S> {}

/// Bytes the plan table adds per node of capacity (one step and one slot).
pub(crate) const PER_NODE_BYTES: usize =
    core::mem::size_of::<Step>() + core::mem::size_of::<Slot>();

/// What kind of step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum StepKind {
    Op,
    Dense(Activation),
    Loss,
}

/// One step: a kernel call forward and (if `back`) one backward.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub(crate) kind: StepKind,
    /// The node whose value the step writes (an op; a layer's last node; the loss).
    pub(crate) node: u16,
    /// Dense: input, weight, bias (`NONE`). Loss: logits, targets, softmax node (`NONE`).
    pub(crate) x: u16,
    pub(crate) w: u16,
    pub(crate) b: u16,
    /// Loss: offset of `p` in the arena.
    pub(crate) aux: u32,
    pub(crate) aux_start: u16,
    pub(crate) aux_end: u16,
    /// Runs a backward.
    pub(crate) back: bool,
    /// Bit `i`: this step's backward is the first to write input `i`'s gradient (Op: the
    /// op's input index; Dense: 0 = x, 1 = w, 2 = b; Loss: 0 = logits).
    pub(crate) first: u8,
    /// Variables whose gradient is final after this step's backward.
    pub(crate) fin: [u16; 3],
}

impl Step {
    /// A step of `kind` writing `node`, with no inputs recorded and nothing planned yet.
    pub(crate) const fn new(kind: StepKind, node: u16) -> Self {
        Self {
            kind,
            node,
            x: NONE,
            w: NONE,
            b: NONE,
            aux: crate::graph::UNPLACED,
            aux_start: 0,
            aux_end: 0,
            back: false,
            first: 0,
            fin: [NONE; 3],
        }
    }
}

/// A node's planned buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) value: u32,
    pub(crate) grad: u32,
    pub(crate) v_start: u16,
    pub(crate) v_end: u16,
    pub(crate) g_start: u16,
    pub(crate) g_end: u16,
    /// Scalars in all earlier variables (a variable's offset into optimizer state).
    pub(crate) var_offset: u32,
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        value: crate::graph::UNPLACED,
        grad: crate::graph::UNPLACED,
        v_start: 0,
        v_end: 0,
        g_start: 0,
        g_end: 0,
        var_offset: 0,
    };
}

/// The installed plan, inside the graph.
#[derive(Clone, Debug)]
pub(crate) struct PlanTable<const N: usize> {
    pub(crate) steps: heapless::Vec<Step, N>,
    pub(crate) slots: heapless::Vec<Slot, N>,
    pub(crate) loss: u16,
    pub(crate) active: bool,
    pub(crate) accumulate: bool,
    /// Fixed values plus the region.
    pub(crate) scalars: usize,
}

impl<const N: usize> PlanTable<N> {
    pub(crate) const fn new() -> Self {
        Self {
            steps: heapless::Vec::new(),
            slots: heapless::Vec::new(),
            // Meaningless while inactive; zero so that an empty graph is all zero bits.
            loss: 0,
            active: false,
            accumulate: false,
            scalars: 0,
        }
    }
    pub(crate) fn clear(&mut self) {
        self.steps.clear();
        self.slots.clear();
        self.loss = 0;
        self.active = false;
        self.accumulate = false;
        self.scalars = 0;
    }
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }
    /// `2n` for `n` steps: the time "after the step".
    pub(crate) fn end(&self) -> u16 {
        (2 * self.steps.len()) as u16
    }
}
