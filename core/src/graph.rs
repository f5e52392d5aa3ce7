//! The fixed-capacity computational graph: building, feeding, evaluation and backprop.

use crate::op::MAX_INPUTS;
use crate::plan::PlanTable;
use crate::tag::{next_tag, next_tag_after, TAG_MAX};
use crate::{Error, MatMut, MatRef, Matrix, NodeId, Op, Scalar, Shape, Tensor};

/// An arena offset that is not placed (no buffer in the current layout).
pub(crate) const UNPLACED: u32 = u32::MAX;

/// How the op buffers (values and gradients) are laid out in the arena right now.
///
/// `repr(u8)` with `Unplaced = 0`: an [`Graph::empty`] graph is all zero bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Layout {
    /// Not laid out since the graph last changed.
    Unplaced = 0,
    /// The interpreter's layout: every op has its own value and gradient buffer.
    Interp,
    /// The step plan's layout (see [`Graph::plan`]).
    Planned,
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NodeKind<O> {
    /// Fed with data before a run (the tutorial's `placeholder`).
    Placeholder,
    /// Trainable; keeps its value between runs and has a gradient (the tutorial's `Variable`).
    Variable,
    /// A fixed value.
    Constant,
    /// The output of an operation on earlier nodes.
    Op(O),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<O> {
    pub(crate) kind: NodeKind<O>,
    rows: u16,
    cols: u16,
    /// Offset of the value in the arena: fixed for placeholders, variables and constants;
    /// for ops set by the current layout (`UNPLACED` when it has none).
    pub(crate) value: u32,
    /// Offset of the gradient in the current layout, or `UNPLACED`.
    pub(crate) grad: u32,
    pub(crate) inputs: [u16; MAX_INPUTS],
    pub(crate) n_inputs: u8,
    pub(crate) fed: bool,
    pub(crate) mark: bool,
    /// On a path from a trainable variable to the last backprop's loss.
    pub(crate) reached: bool,
    /// Depends on a trainable (not frozen) variable, or is one: has a gradient.
    pub(crate) needs_grad: bool,
    /// A variable that is not trained (see [`Graph::set_trainable`]).
    pub(crate) frozen: bool,
    /// The value buffer holds the node's value from the last run.
    pub(crate) kept: bool,
}

impl<O> Node<O> {
    pub(crate) fn shape(&self) -> Shape {
        Shape::new(self.rows as usize, self.cols as usize)
    }
    pub(crate) fn len(&self) -> usize {
        self.rows as usize * self.cols as usize
    }
    pub(crate) fn has_grad(&self) -> bool {
        self.needs_grad
    }
    pub(crate) fn input_ids(&self) -> &[u16] {
        self.inputs.get(..self.n_inputs as usize).unwrap_or(&[])
    }
    pub(crate) fn is_persistent(&self) -> bool {
        !matches!(self.kind, NodeKind::Op(_))
    }
}

/// Counters of kernel invocations since the graph was created (wrapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Forward kernels run (one per op node evaluated).
    pub forward_ops: u32,
    /// Backward kernels run (one per op input that received a gradient).
    pub backward_ops: u32,
}

/// What a built graph occupies: use it to choose `NODES` and `SCALARS` exactly.
///
/// Once a step plan is installed ([`Graph::plan`]) `scalars` is the planned need, which is what
/// a device that only trains with the plan (and evaluates its kept outputs) must declare;
/// `unplanned_scalars` is what the interpreter (`run` of any node, `backward`) needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Requirements {
    /// Nodes in use: the least `NODES` that holds this graph.
    pub nodes: usize,
    /// The least `SCALARS` that holds this graph as it runs: the plan's need when a plan is
    /// installed, else [`Requirements::unplanned_scalars`].
    pub scalars: usize,
    /// Scalars the interpreter needs: every placeholder, constant and variable value, and a
    /// value (and a gradient, where one is needed) for every op and trainable variable.
    pub unplanned_scalars: usize,
    /// Bytes of a `Graph` with capacities `nodes` and `scalars`.
    pub bytes: usize,
}

/// Read-only access to every arena range except one that is borrowed mutably.
pub(crate) struct Reader<'a, T> {
    pub(crate) lo: &'a [T],
    pub(crate) hi: &'a [T],
    pub(crate) hi_start: usize,
}

impl<'a, T> Reader<'a, T> {
    pub(crate) fn view(&self, start: usize, shape: Shape) -> Result<MatRef<'a, T>, Error> {
        let len = shape.rows * shape.cols;
        let end = start + len;
        let data = if end <= self.lo.len() {
            self.lo.get(start..end)
        } else if start >= self.hi_start {
            self.hi.get(start - self.hi_start..end - self.hi_start)
        } else {
            None
        };
        data.and_then(|d| MatRef::new(d, shape))
            .ok_or(Error::InvalidArgument)
    }
}

/// The arena split into one mutable range (`len` scalars from `off`) and a reader of
/// everything else.
pub(crate) fn split<T>(
    arena: &mut [T],
    off: u32,
    len: usize,
) -> Result<(Reader<'_, T>, &mut [T]), Error> {
    let start = off as usize;
    let (lo, rest) = arena
        .split_at_mut_checked(start)
        .ok_or(Error::InvalidArgument)?;
    let (mid, hi) = rest
        .split_at_mut_checked(len)
        .ok_or(Error::InvalidArgument)?;
    Ok((
        Reader {
            lo,
            hi,
            hi_start: start + len,
        },
        mid,
    ))
}

/// Views of the values of node `n`'s inputs.
fn input_views<'a, T: Copy, O>(
    nodes: &[Node<O>],
    reader: &Reader<'a, T>,
    n: &Node<O>,
) -> Result<[MatRef<'a, T>; MAX_INPUTS], Error> {
    let mut views = [MatRef::empty(); MAX_INPUTS];
    for (v, &j) in views.iter_mut().zip(n.input_ids()) {
        let m = nodes.get(j as usize).ok_or(Error::InvalidArgument)?;
        *v = reader.view(m.value as usize, m.shape())?;
    }
    Ok(views)
}

/// A fixed-capacity computational graph over scalars `T` with operations `O`.
///
/// `NODES` bounds the number of nodes and `SCALARS` the values and gradients, which all live in
/// one arena inside the struct: a graph is one block of memory with no heap. Nodes refer only to
/// earlier nodes, so insertion order is a topological order; evaluation and backprop are sweeps
/// over the node table, with no recursion.
///
/// **Memory.** Each node takes `rows × cols` scalars for its value. Variables, and operations
/// that depend on a variable, take as many again for their gradient (placeholders, constants
/// and operations on them alone need none). The total is fixed at build time: [`Graph::requirements`]
/// reports it, so a graph can be built once with generous capacities (on the host) and then
/// declared with exact ones.
///
/// ```
/// use embedgrad_core::{Graph, Matrix, NoOp};
/// let mut g: Graph<f32, NoOp, 4, 16> = Graph::new();
/// let x = g.placeholder::<1, 2>()?;
/// let w = g.variable(&Matrix::new([[1.0, 2.0], [3.0, 4.0]]))?;
/// g.feed(x, &Matrix::new([[1.0, 1.0]]))?;
/// assert_eq!(g.value(w)?.get(1, 0), Some(3.0));
/// assert_eq!(g.requirements().scalars, 2 + 4 + 4); // x, w, w's gradient
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
pub struct Graph<T, O, const NODES: usize, const SCALARS: usize> {
    pub(crate) nodes: heapless::Vec<Node<O>, NODES>,
    pub(crate) arena: [T; SCALARS],
    /// Scalars of placeholders, constants and variable values (the bottom of the arena).
    pub(crate) fixed: usize,
    /// End of the current layout (`fixed` when unplaced).
    pub(crate) used: usize,
    pub(crate) layout: Layout,
    pub(crate) plan: PlanTable<NODES>,
    /// The plan's executor, set by [`Graph::plan`]: reached only through these pointers, so a
    /// firmware that never plans links none of it (about 11 KB of flash on a Cortex-M).
    pub(crate) plan_fns: Option<crate::plan::PlanFns<T, O, NODES, SCALARS>>,
    /// The tag of this graph's handles (48 bits; 0 until an `empty()` graph's first node).
    tag: u64,
    pub(crate) stats: Stats,
}

impl<T: Scalar, O: Op<T>, const NODES: usize, const SCALARS: usize> Default
    for Graph<T, O, NODES, SCALARS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Scalar, O: Op<T>, const NODES: usize, const SCALARS: usize> Graph<T, O, NODES, SCALARS> {
    /// Node capacity.
    pub const NODE_CAPACITY: usize = NODES;
    /// Scalar capacity.
    pub const SCALAR_CAPACITY: usize = SCALARS;

    /// An empty graph with a fresh tag (handles of other graphs are rejected).
    pub fn new() -> Self {
        Self::with_tag(next_tag())
    }

    /// An empty graph with the given tag (its low 48 bits; 0 is taken as 1), usable in
    /// `static` initialisers. Two live graphs should not share a tag, or a handle of one is
    /// accepted by the other: the program's counter behind [`Graph::new`], [`Graph::clear`] and
    /// [`Graph::empty`] hands out 1, 2, 3, …, so fixed tags taken from the top of the range
    /// (`NodeId::TAG_MAX - n`) stay clear of it for the life of a device. `clear` replaces the
    /// tag with one of the counter's.
    pub const fn with_tag(tag: u64) -> Self {
        let mut g = Self::empty();
        let tag = tag & TAG_MAX;
        g.tag = if tag == 0 { 1 } else { tag };
        g
    }

    /// An empty graph for a `static`, built where it lives: every byte of it is zero, so a
    /// `static` (or `static mut`) initialised with it is placed in `.bss` — no stack copy, no
    /// flash image of the arena — and it takes a fresh tag when its first node is added.
    /// Zeroed memory is this graph (every field is a zero count, a zero scalar, `false`, a
    /// `None` function pointer or a zero discriminant), which is how the C API initialises a
    /// graph in the caller's memory without building one on the stack.
    /// This is how a firmware holds a graph larger than its stack (a `static mut` it borrows
    /// once, or a cell such as `static_cell::ConstStaticCell`); the graph then works as any:
    ///
    /// ```
    /// use embedgrad_core::{Graph, NoOp};
    /// static EMPTY: Graph<f32, NoOp, 8, 4096> = Graph::empty(); // in .bss
    /// let mut g: Graph<f32, NoOp, 8, 4096> = Graph::empty();
    /// assert_eq!(g.tag(), 0);
    /// let x = g.placeholder::<1, 2>()?;
    /// assert_ne!(g.tag(), 0); // a fresh tag with the first node
    /// assert_eq!(g.shape(x.id())?.cols, 2);
    /// # Ok::<(), embedgrad_core::Error>(())
    /// ```
    pub const fn empty() -> Self {
        Self {
            nodes: heapless::Vec::new(),
            arena: [T::ZERO; SCALARS],
            fixed: 0,
            used: 0,
            layout: Layout::Unplaced,
            plan: PlanTable::new(),
            plan_fns: None,
            tag: 0,
            stats: Stats {
                forward_ops: 0,
                backward_ops: 0,
            },
        }
    }

    /// Removes every node; old handles become foreign (the graph takes a fresh tag, never
    /// the one it had: see [`NodeId`] for how long tags stay fresh).
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.fixed = 0;
        self.used = 0;
        self.layout = Layout::Unplaced;
        self.plan.clear();
        self.tag = next_tag_after(self.tag);
        self.arena = [T::ZERO; SCALARS];
    }

    /// The tag that handles of this graph carry (48 bits; 0 for an [`Graph::empty`] graph
    /// until its first node).
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `true` when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Scalars in use now: the fixed values of placeholders, constants and variables, plus the
    /// current layout of op values and gradients (none before the first run, the plan's after
    /// [`Graph::plan`], the interpreter's after a `run` or `backward` without a plan).
    pub fn scalars_used(&self) -> usize {
        self.used
    }

    /// Scalars of placeholders, constants and variable values: what building checks against
    /// `SCALARS` (op buffers are laid out at the first run, or by the plan).
    pub fn fixed_scalars(&self) -> usize {
        self.fixed
    }

    /// Kernel invocation counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The exact capacities this graph needs, and the bytes a graph with them occupies.
    pub fn requirements(&self) -> Requirements {
        let unplanned = self.interp_need();
        let scalars = if self.plan.is_active() {
            self.plan.scalars
        } else {
            unplanned
        };
        Requirements {
            nodes: self.nodes.len(),
            scalars,
            unplanned_scalars: unplanned,
            bytes: Self::bytes_for(self.nodes.len(), scalars),
        }
    }

    /// Scalars the interpreter's layout needs (saturating).
    fn interp_need(&self) -> usize {
        let mut need = self.fixed;
        for n in self.nodes.iter() {
            let own = match n.kind {
                NodeKind::Op(_) => n.len() * if n.needs_grad { 2 } else { 1 },
                NodeKind::Variable if n.needs_grad => n.len(),
                _ => 0,
            };
            need = need.saturating_add(own);
        }
        need
    }

    /// Lays out the interpreter's buffers (every op value, every gradient) after the fixed
    /// values, unless they are laid out already.
    pub(crate) fn ensure_interp(&mut self) -> Result<(), Error> {
        if self.layout == Layout::Interp {
            return Ok(());
        }
        let need = self.interp_need();
        if need > SCALARS || need >= UNPLACED as usize {
            return Err(Error::ScalarCapacity {
                needed: need,
                capacity: SCALARS,
            });
        }
        let mut cursor = self.fixed;
        for n in self.nodes.iter_mut() {
            let len = n.len();
            if let NodeKind::Op(_) = n.kind {
                n.value = cursor as u32;
                cursor += len;
                n.kept = true;
            }
            n.grad = if n.needs_grad {
                cursor += len;
                (cursor - len) as u32
            } else {
                UNPLACED
            };
            n.reached = false;
        }
        if let Some(region) = self.arena.get_mut(self.fixed..cursor) {
            region.fill(T::ZERO);
        }
        self.used = cursor;
        self.layout = Layout::Interp;
        Ok(())
    }

    /// Lays out the buffers the next run needs, now: the plan's if one is installed, else the
    /// interpreter's. A run does this itself; call it to learn early whether the graph fits.
    ///
    /// # Errors
    /// [`Error::ScalarCapacity`] with the whole graph's need when the interpreter's layout
    /// does not fit.
    pub fn ensure_layout(&mut self) -> Result<(), Error> {
        if self.plan.is_active() {
            if self.layout != Layout::Planned {
                self.install_plan();
            }
            Ok(())
        } else {
            self.ensure_interp()
        }
    }

    /// Forgets the layout and the plan: the graph's structure changed (or the plan was
    /// dropped).
    pub(crate) fn invalidate(&mut self) {
        self.layout = Layout::Unplaced;
        self.plan.clear();
        self.used = self.fixed;
        for n in self.nodes.iter_mut() {
            if !n.is_persistent() {
                n.value = UNPLACED;
                n.kept = false;
            }
            n.grad = UNPLACED;
            n.reached = false;
        }
    }

    /// Bytes of a `Graph<T, O, nodes, scalars>`: the fixed part plus one node record per node
    /// and one `T` per scalar, rounded up to the struct's alignment.
    pub const fn bytes_for(nodes: usize, scalars: usize) -> usize {
        let fixed = core::mem::size_of::<Graph<T, O, 0, 0>>();
        let per_node = core::mem::size_of::<Node<O>>() + crate::plan::PER_NODE_BYTES;
        let raw = fixed + nodes * per_node + scalars * core::mem::size_of::<T>();
        let align = core::mem::align_of::<Graph<T, O, 0, 0>>();
        raw.div_ceil(align) * align
    }

    // ----- handles -----

    /// The index of a handle of this graph. Tag 0 is no graph's (0 is never a handle in C),
    /// so such a handle names no node rather than another graph's.
    pub(crate) fn index(&self, id: NodeId) -> Result<usize, Error> {
        if id.tag() == 0 {
            return Err(Error::UnknownNode(id));
        }
        if id.tag() != self.tag {
            return Err(Error::ForeignNode(id));
        }
        let i = id.index();
        if i < self.nodes.len() {
            Ok(i)
        } else {
            Err(Error::UnknownNode(id))
        }
    }

    fn node(&self, id: NodeId) -> Result<&Node<O>, Error> {
        let i = self.index(id)?;
        self.nodes.get(i).ok_or(Error::UnknownNode(id))
    }

    pub(crate) fn id_of(&self, index: usize) -> NodeId {
        NodeId::new(self.tag, index as u16)
    }

    /// The shape of a node.
    ///
    /// # Errors
    /// [`Error::ForeignNode`] or [`Error::UnknownNode`] for a bad handle.
    pub fn shape(&self, id: NodeId) -> Result<Shape, Error> {
        Ok(self.node(id)?.shape())
    }

    /// The kind of a node (and the op, for an operation).
    ///
    /// # Errors
    /// As [`Graph::shape`].
    pub fn kind(&self, id: NodeId) -> Result<NodeKind<O>, Error> {
        Ok(self.node(id)?.kind)
    }

    /// Whether a node has a gradient buffer (it is a variable or depends on one).
    ///
    /// # Errors
    /// As [`Graph::shape`].
    pub fn has_grad(&self, id: NodeId) -> Result<bool, Error> {
        Ok(self.node(id)?.has_grad())
    }

    /// A typed handle for an untyped one, checking the shape.
    ///
    /// # Errors
    /// As [`Graph::shape`], and [`Error::ShapeMismatch`] when the node is not `R × C`.
    pub fn tensor<const R: usize, const C: usize>(
        &self,
        id: NodeId,
    ) -> Result<Tensor<R, C>, Error> {
        let s = self.shape(id)?;
        if s == Shape::new(R, C) {
            Ok(Tensor::from_id(id))
        } else {
            Err(Error::ShapeMismatch {
                expected: Shape::new(R, C),
                found: s,
            })
        }
    }

    /// The handle of the node at insertion position `index`, if any.
    pub fn node_at(&self, index: usize) -> Option<NodeId> {
        (index < self.nodes.len()).then(|| self.id_of(index))
    }

    /// Handles of all variables, in insertion order.
    pub fn variables(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, NodeKind::Variable))
            .map(|(i, _)| self.id_of(i))
    }

    /// Total scalars in all variables, trainable or frozen (what a checkpoint stores).
    pub fn variable_scalars(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Variable))
            .map(|n| n.len())
            .sum()
    }

    /// Scalars of the trainable (not frozen) variables: the per-parameter state an optimizer
    /// needs (its `P`).
    pub fn trainable_scalars(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Variable) && !n.frozen)
            .map(|n| n.len())
            .sum()
    }

    // ----- building -----

    fn push_node(
        &mut self,
        kind: NodeKind<O>,
        shape: Shape,
        inputs: &[NodeId],
        needs_grad: bool,
        init: Option<&[T]>,
    ) -> Result<NodeId, Error> {
        if self.tag == 0 {
            // An `empty()` graph takes its tag with its first node.
            self.tag = next_tag();
        }
        let len = shape.checked_len()?;
        if let Some(init) = init {
            if init.len() != len {
                return Err(Error::LengthMismatch {
                    expected: len,
                    found: init.len(),
                });
            }
            if init.iter().any(|v| !v.is_finite()) {
                return Err(Error::NonFinite);
            }
        }
        if self.nodes.len() >= NODES || self.nodes.len() > u16::MAX as usize {
            return Err(Error::NodeCapacity { capacity: NODES });
        }
        if inputs.len() > MAX_INPUTS {
            return Err(Error::Arity {
                expected: MAX_INPUTS,
                found: inputs.len(),
            });
        }
        let persistent = !matches!(kind, NodeKind::Op(_));
        // Only the fixed values (placeholders, constants, variables) take arena memory now; op
        // buffers are laid out at the first run or by the plan. Checked arithmetic: on 32-bit
        // targets a huge shape must not wrap past the check.
        let fixed = if persistent {
            self.fixed.saturating_add(len)
        } else {
            self.fixed
        };
        if fixed > SCALARS || fixed >= UNPLACED as usize {
            return Err(Error::ScalarCapacity {
                needed: fixed,
                capacity: SCALARS,
            });
        }
        let mut ins = [0u16; MAX_INPUTS];
        for (slot, id) in ins.iter_mut().zip(inputs) {
            *slot = self.index(*id)? as u16;
        }
        let value = self.fixed;
        let node = Node {
            kind,
            rows: shape.rows as u16,
            cols: shape.cols as u16,
            value: if persistent { value as u32 } else { UNPLACED },
            grad: UNPLACED,
            inputs: ins,
            n_inputs: inputs.len() as u8,
            fed: false,
            mark: false,
            reached: false,
            needs_grad,
            frozen: false,
            kept: persistent,
        };
        let index = self.nodes.len();
        self.nodes
            .push(node)
            .map_err(|_| Error::NodeCapacity { capacity: NODES })?;
        self.invalidate();
        self.fixed = fixed;
        self.used = fixed;
        if persistent {
            // Zero the new region (it may hold data of a cleared graph), then copy the initial
            // value.
            if let Some(region) = self.arena.get_mut(value..fixed) {
                region.fill(T::ZERO);
                // `..init.len()` (not `..len`): the equal lengths are then evident to the
                // optimizer, so no length-mismatch panic path is linked.
                if let Some(init) = init {
                    if let Some(dst) = region.get_mut(..init.len()) {
                        dst.copy_from_slice(init);
                    }
                }
            }
        }
        Ok(self.id_of(index))
    }

    /// Marks a variable trainable (the default) or frozen. A frozen variable keeps its value,
    /// gets no gradient buffer, is skipped by optimizers and nothing upstream of it computes
    /// a gradient for it; checkpoints still store its value. Changing it discards the
    /// current layout and plan (plan again).
    ///
    /// # Errors
    /// Bad handle, [`Error::WrongNodeKind`] unless a variable.
    pub fn set_trainable(&mut self, id: NodeId, trainable: bool) -> Result<(), Error> {
        let i = self.index(id)?;
        let n = self.nodes.get_mut(i).ok_or(Error::UnknownNode(id))?;
        if !matches!(n.kind, NodeKind::Variable) {
            return Err(Error::WrongNodeKind(id));
        }
        if n.frozen != trainable {
            return Ok(());
        }
        n.frozen = !trainable;
        // Recompute which nodes depend on a trainable variable (inputs come first).
        for k in 0..self.nodes.len() {
            let Some(n) = self.nodes.get(k).copied() else {
                continue;
            };
            let needs = match n.kind {
                NodeKind::Variable => !n.frozen,
                NodeKind::Op(_) => n
                    .input_ids()
                    .iter()
                    .any(|&j| self.nodes.get(j as usize).is_some_and(|m| m.needs_grad)),
                _ => false,
            };
            if let Some(m) = self.nodes.get_mut(k) {
                m.needs_grad = needs;
            }
        }
        self.invalidate();
        Ok(())
    }

    /// Whether a node is a trainable variable (not frozen).
    ///
    /// # Errors
    /// Bad handle.
    pub fn is_trainable(&self, id: NodeId) -> Result<bool, Error> {
        let n = self.node(id)?;
        Ok(matches!(n.kind, NodeKind::Variable) && !n.frozen)
    }

    /// Adds a placeholder of the given shape (untyped; see [`Graph::placeholder`]).
    ///
    /// # Errors
    /// [`Error::InvalidShape`], [`Error::NodeCapacity`], [`Error::ScalarCapacity`].
    pub fn placeholder_dyn(&mut self, shape: Shape) -> Result<NodeId, Error> {
        self.push_node(NodeKind::Placeholder, shape, &[], false, None)
    }

    /// Adds an `R × C` placeholder, to be fed before each run that needs it.
    ///
    /// # Errors
    /// As [`Graph::placeholder_dyn`].
    pub fn placeholder<const R: usize, const C: usize>(&mut self) -> Result<Tensor<R, C>, Error> {
        self.placeholder_dyn(Shape::new(R, C)).map(Tensor::from_id)
    }

    /// Adds a variable with row-major initial values (untyped; see [`Graph::variable`]).
    ///
    /// # Errors
    /// As [`Graph::placeholder_dyn`], plus [`Error::LengthMismatch`] and [`Error::NonFinite`]
    /// for a bad initial value.
    pub fn variable_dyn(&mut self, shape: Shape, init: &[T]) -> Result<NodeId, Error> {
        self.push_node(NodeKind::Variable, shape, &[], true, Some(init))
    }

    /// Adds a variable whose initial value `fill` writes in place (row-major, zeros before), so
    /// that a variable of a runtime shape needs no buffer of its own (the layers of
    /// `embedgrad-train` draw their weights straight into the graph this way).
    ///
    /// ```
    /// use embedgrad_core::{Error, Graph, NoOp, Shape};
    /// let mut g: Graph<f32, NoOp, 2, 8> = Graph::new();
    /// let w = g.variable_with(Shape::new(2, 3), |v| {
    ///     v.iter_mut().zip(0..).for_each(|(d, i)| *d = i as f32)
    /// })?;
    /// assert_eq!(g.value_slice(w)?, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    /// // A non-finite value is refused and the graph is left as it was.
    /// let r = g.variable_with(Shape::new(1, 1), |v| v[0] = f32::NAN);
    /// assert_eq!(r, Err(Error::NonFinite));
    /// assert_eq!((g.len(), g.scalars_used()), (1, 6));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Graph::variable_dyn`].
    pub fn variable_with(
        &mut self,
        shape: Shape,
        fill: impl FnOnce(&mut [T]),
    ) -> Result<NodeId, Error> {
        let (nodes, fixed) = (self.nodes.len(), self.fixed);
        let id = self.push_node(NodeKind::Variable, shape, &[], true, None)?;
        let ok = match self.arena.get_mut(fixed..self.fixed) {
            Some(dst) => {
                fill(dst);
                dst.iter().all(|x| x.is_finite())
            }
            None => false,
        };
        if ok {
            return Ok(id);
        }
        // Undo the push: the new node is the last one and its values the last fixed ones.
        self.nodes.truncate(nodes);
        self.invalidate();
        self.fixed = fixed;
        self.used = fixed;
        Err(Error::NonFinite)
    }

    /// Adds a trainable variable with an initial value.
    ///
    /// # Errors
    /// As [`Graph::variable_dyn`].
    pub fn variable<const R: usize, const C: usize>(
        &mut self,
        init: &Matrix<T, R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.variable_dyn(Shape::new(R, C), init.as_slice())
            .map(Tensor::from_id)
    }

    /// Adds a constant (untyped; see [`Graph::constant`]).
    ///
    /// # Errors
    /// As [`Graph::variable_dyn`].
    pub fn constant_dyn(&mut self, shape: Shape, value: &[T]) -> Result<NodeId, Error> {
        self.push_node(NodeKind::Constant, shape, &[], false, Some(value))
    }

    /// Adds a constant.
    ///
    /// # Errors
    /// As [`Graph::variable_dyn`].
    pub fn constant<const R: usize, const C: usize>(
        &mut self,
        value: &Matrix<T, R, C>,
    ) -> Result<Tensor<R, C>, Error> {
        self.constant_dyn(Shape::new(R, C), value.as_slice())
            .map(Tensor::from_id)
    }

    /// Adds an operation on earlier nodes; its shape comes from [`Op::out_shape`]. The node gets
    /// a gradient buffer when any input has one.
    ///
    /// # Errors
    /// Bad handles, the op's shape errors, [`Error::NodeCapacity`], [`Error::ScalarCapacity`].
    pub fn push_op(&mut self, op: O, inputs: &[NodeId]) -> Result<NodeId, Error> {
        let mut shapes = [Shape::new(0, 0); MAX_INPUTS];
        if inputs.len() > MAX_INPUTS {
            return Err(Error::Arity {
                expected: MAX_INPUTS,
                found: inputs.len(),
            });
        }
        let mut with_grad = false;
        for (s, id) in shapes.iter_mut().zip(inputs) {
            let n = self.node(*id)?;
            *s = n.shape();
            with_grad |= n.has_grad();
        }
        let shape = op.out_shape(shapes.get(..inputs.len()).unwrap_or(&[]))?;
        self.push_node(NodeKind::Op(op), shape, inputs, with_grad, None)
    }

    /// Adds an operation and returns a typed handle, checking that its shape is `R × C`. This
    /// is what the typed builders of `embedgrad-ops` call.
    ///
    /// # Errors
    /// As [`Graph::push_op`], and [`Error::ShapeMismatch`] when the op's shape is not `R × C`
    /// (the graph is then unchanged).
    pub fn op<const R: usize, const C: usize>(
        &mut self,
        op: O,
        inputs: &[NodeId],
    ) -> Result<Tensor<R, C>, Error> {
        let mut shapes = [Shape::new(0, 0); MAX_INPUTS];
        for (s, id) in shapes.iter_mut().zip(inputs) {
            *s = self.shape(*id)?;
        }
        let shape = op.out_shape(shapes.get(..inputs.len()).unwrap_or(&[]))?;
        if shape != Shape::new(R, C) {
            return Err(Error::ShapeMismatch {
                expected: Shape::new(R, C),
                found: shape,
            });
        }
        self.push_op(op, inputs).map(Tensor::from_id)
    }

    // ----- data in and out -----

    /// Copies row-major data into a placeholder (untyped; see [`Graph::feed`]).
    ///
    /// # Errors
    /// Bad handle, [`Error::WrongNodeKind`] unless a placeholder, [`Error::LengthMismatch`],
    /// [`Error::NonFinite`] for NaN or infinite data (nothing is written then).
    pub fn feed_slice(&mut self, id: NodeId, data: &[T]) -> Result<(), Error> {
        let i = self.index(id)?;
        let n = self.nodes.get_mut(i).ok_or(Error::UnknownNode(id))?;
        if !matches!(n.kind, NodeKind::Placeholder) {
            return Err(Error::WrongNodeKind(id));
        }
        write_checked(&mut self.arena, n.value as usize, n.len(), data)?;
        n.fed = true;
        Ok(())
    }

    /// Fills a placeholder in place: `fill` writes its row-major values straight into the
    /// graph's memory, so the data needs no buffer of its own (a firmware can draw or read a
    /// whole data set into the graph). The values are checked afterwards: if one is NaN or
    /// infinite the placeholder is left unfed (a run reports [`Error::MissingFeed`]) and
    /// [`Error::NonFinite`] is returned.
    ///
    /// ```
    /// use embedgrad_core::{Error, Graph, NoOp};
    /// let mut g: Graph<f32, NoOp, 2, 8> = Graph::new();
    /// let x = g.placeholder::<2, 2>()?;
    /// g.feed_with(x.id(), |v| v.iter_mut().zip(0..).for_each(|(d, i)| *d = i as f32))?;
    /// assert_eq!(g.value(x)?.data, [[0.0, 1.0], [2.0, 3.0]]);
    /// // A NaN is refused, and the placeholder is no longer fed.
    /// assert_eq!(g.feed_with(x.id(), |v| v[3] = f32::NAN), Err(Error::NonFinite));
    /// let w = g.variable(&embedgrad_core::Matrix::new([[1.0]]))?;
    /// assert_eq!(g.feed_with(w.id(), |_| {}), Err(Error::WrongNodeKind(w.id())));
    /// # Ok::<(), embedgrad_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Bad handle, [`Error::WrongNodeKind`] unless a placeholder, [`Error::NonFinite`].
    pub fn feed_with(&mut self, id: NodeId, fill: impl FnOnce(&mut [T])) -> Result<(), Error> {
        let i = self.index(id)?;
        let n = self.nodes.get_mut(i).ok_or(Error::UnknownNode(id))?;
        if !matches!(n.kind, NodeKind::Placeholder) {
            return Err(Error::WrongNodeKind(id));
        }
        let v = n.value as usize;
        let dst = self
            .arena
            .get_mut(v..v + n.len())
            .ok_or(Error::InvalidArgument)?;
        fill(dst);
        n.fed = dst.iter().all(|x| x.is_finite());
        if n.fed {
            Ok(())
        } else {
            Err(Error::NonFinite)
        }
    }

    /// Feeds a placeholder. Values persist: a placeholder fed once stays fed.
    ///
    /// # Errors
    /// As [`Graph::feed_slice`].
    pub fn feed<const R: usize, const C: usize>(
        &mut self,
        placeholder: Tensor<R, C>,
        data: &Matrix<T, R, C>,
    ) -> Result<(), Error> {
        self.feed_slice(placeholder.id(), data.as_slice())
    }

    /// Overwrites the value of a variable or constant (row-major).
    ///
    /// # Errors
    /// Bad handle, [`Error::WrongNodeKind`] for placeholders and ops, [`Error::LengthMismatch`],
    /// [`Error::NonFinite`].
    pub fn assign_slice(&mut self, id: NodeId, data: &[T]) -> Result<(), Error> {
        let i = self.index(id)?;
        let n = self.nodes.get(i).ok_or(Error::UnknownNode(id))?;
        if !matches!(n.kind, NodeKind::Variable | NodeKind::Constant) {
            return Err(Error::WrongNodeKind(id));
        }
        write_checked(&mut self.arena, n.value as usize, n.len(), data)
    }

    /// Overwrites the value of a variable or constant.
    ///
    /// # Errors
    /// As [`Graph::assign_slice`].
    pub fn assign<const R: usize, const C: usize>(
        &mut self,
        t: Tensor<R, C>,
        data: &Matrix<T, R, C>,
    ) -> Result<(), Error> {
        self.assign_slice(t.id(), data.as_slice())
    }

    /// The current value of a node, row-major. For an op it is the result of the last run that
    /// computed it (zero when laid out but not yet computed).
    ///
    /// With a step plan installed, op values share memory: after a planned step only the loss
    /// and the nodes the plan was told to keep hold their values (after a forward-only run,
    /// every node whose value the plan keeps to the end of the forward pass).
    ///
    /// # Errors
    /// Bad handle; [`Error::NotKept`] for an op that has not been laid out yet (nothing ran
    /// since the graph changed) or whose value the planned run did not keep (fused into a
    /// layer, or its memory reused).
    pub fn value_slice(&self, id: NodeId) -> Result<&[T], Error> {
        let n = self.node(id)?;
        if n.value == UNPLACED || !n.kept {
            return Err(Error::NotKept(id));
        }
        let v = n.value as usize;
        self.arena.get(v..v + n.len()).ok_or(Error::UnknownNode(id))
    }

    /// The current value of a node as a matrix.
    ///
    /// # Errors
    /// Bad handle.
    pub fn value<const R: usize, const C: usize>(
        &self,
        t: Tensor<R, C>,
    ) -> Result<Matrix<T, R, C>, Error> {
        Matrix::from_slice(self.value_slice(t.id())?)
    }

    /// The gradient of the last backprop's loss with respect to a node: zero for a variable
    /// that does not lead to that loss.
    ///
    /// # Errors
    /// Bad handle, [`Error::NoGradient`] when the node depends on no trainable variable, for
    /// an op that is not on a path from a variable to the last backprop's loss (its gradient
    /// of an earlier loss is not reported), and when no gradient is held now (before the
    /// first backprop, or after a planned step, which applies each gradient as soon as it is
    /// final and keeps none).
    pub fn grad_slice(&self, id: NodeId) -> Result<&[T], Error> {
        let n = self.node(id)?;
        // An op off the last loss's path has no gradient of that loss (its buffer may still
        // hold an older loss's); a variable off the path has gradient zero.
        let off_path = !n.reached && !matches!(n.kind, NodeKind::Variable);
        if !n.has_grad() || n.grad == UNPLACED || off_path {
            return Err(Error::NoGradient(id));
        }
        let g = n.grad as usize;
        self.arena.get(g..g + n.len()).ok_or(Error::UnknownNode(id))
    }

    /// The gradient with respect to a node as a matrix.
    ///
    /// # Errors
    /// As [`Graph::grad_slice`].
    pub fn grad<const R: usize, const C: usize>(
        &self,
        t: Tensor<R, C>,
    ) -> Result<Matrix<T, R, C>, Error> {
        Matrix::from_slice(self.grad_slice(t.id())?)
    }

    // ----- evaluation -----

    /// Marks `targets` and all their ancestors (clearing other marks); returns the highest
    /// target index.
    pub(crate) fn mark_ancestors(&mut self, targets: &[NodeId]) -> Result<usize, Error> {
        self.mark_ancestors_of(targets.iter().copied())
    }

    /// [`Graph::mark_ancestors`] for targets from an iterator (walked twice).
    pub(crate) fn mark_ancestors_of(
        &mut self,
        targets: impl Iterator<Item = NodeId> + Clone,
    ) -> Result<usize, Error> {
        let mut top = 0;
        for t in targets.clone() {
            top = top.max(self.index(t)?);
        }
        for n in self.nodes.iter_mut() {
            n.mark = false;
        }
        for t in targets {
            let i = self.index(t)?;
            if let Some(n) = self.nodes.get_mut(i) {
                n.mark = true;
            }
        }
        for k in (0..=top).rev() {
            let Some(n) = self.nodes.get(k).copied() else {
                continue;
            };
            if !n.mark {
                continue;
            }
            for &j in n.input_ids() {
                if let Some(m) = self.nodes.get_mut(j as usize) {
                    m.mark = true;
                }
            }
        }
        Ok(top)
    }

    /// [`Error::MissingFeed`] for the first marked placeholder up to `top` that was never fed.
    pub(crate) fn check_feeds(&self, top: usize) -> Result<(), Error> {
        for (k, n) in self.nodes.iter().enumerate().take(top + 1) {
            if n.mark && matches!(n.kind, NodeKind::Placeholder) && !n.fed {
                return Err(Error::MissingFeed(self.id_of(k)));
            }
        }
        Ok(())
    }

    /// Evaluates the given nodes: every ancestor they need is computed exactly once, in
    /// insertion order; nothing else is computed (the tutorial's `Session.run`).
    ///
    /// With a step plan installed, targets whose values the plan keeps (its loss, its kept
    /// outputs) are computed by the plan's forward pass, in the plan's memory; any other
    /// target switches the graph back to the interpreter's layout, which needs
    /// [`Requirements::unplanned_scalars`] (the plan is kept and used again by the next
    /// planned step).
    ///
    /// # Errors
    /// Bad handles; [`Error::MissingFeed`] (before anything is computed) when a needed
    /// placeholder was never fed; [`Error::ScalarCapacity`] when the interpreter's layout does
    /// not fit (with the whole graph's need).
    pub fn run_many(&mut self, targets: &[NodeId]) -> Result<(), Error> {
        if let Some(fns) = self.plan_fns {
            if self.plan.is_active() && self.plan_covers(targets)? {
                return (fns.forward)(self).map(|_| ());
            }
        }
        self.run_interp(targets)
    }

    /// The interpreter's forward pass (see [`Graph::run_many`]).
    fn run_interp(&mut self, targets: &[NodeId]) -> Result<(), Error> {
        // Feeds are checked before anything is laid out, so that a run refused for a missing
        // feed leaves the graph exactly as it was.
        let top = self.mark_ancestors(targets)?;
        self.check_feeds(top)?;
        self.ensure_interp()?;
        for k in 0..=top {
            let Some(n) = self.nodes.get(k).copied() else {
                continue;
            };
            let NodeKind::Op(op) = n.kind else { continue };
            if !n.mark {
                continue;
            }
            self.op_forward(&op, &n)?;
            self.stats.forward_ops = self.stats.forward_ops.wrapping_add(1);
        }
        Ok(())
    }

    /// Runs `op`'s forward kernel for node `n`, overwriting its value buffer; every other
    /// buffer is read through a [`Reader`].
    pub(crate) fn op_forward(&mut self, op: &O, n: &Node<O>) -> Result<(), Error> {
        let (reader, dst) = split(&mut self.arena, n.value, n.len())?;
        let views = input_views(&self.nodes, &reader, n)?;
        let out = MatMut::new(dst, n.shape()).ok_or(Error::InvalidArgument)?;
        op.forward(views.get(..n.input_ids().len()).unwrap_or(&[]), out);
        Ok(())
    }

    /// Evaluates one node (see [`Graph::run_many`]).
    ///
    /// # Errors
    /// As [`Graph::run_many`].
    pub fn run(&mut self, target: NodeId) -> Result<(), Error> {
        self.run_many(&[target])
    }

    /// Evaluates a node and returns its value.
    ///
    /// # Errors
    /// As [`Graph::run_many`].
    pub fn eval<const R: usize, const C: usize>(
        &mut self,
        t: Tensor<R, C>,
    ) -> Result<Matrix<T, R, C>, Error> {
        self.run(t.id())?;
        self.value(t)
    }

    // ----- backprop -----

    /// Backpropagates from a 1×1 loss whose value is current (after [`Graph::run`]),
    /// overwriting every gradient: afterwards each variable's gradient is `∂loss/∂variable`
    /// (zero for variables that do not reach the loss).
    ///
    /// The loss's ancestors are swept in reverse insertion order (a reverse topological
    /// order), each op adding its inputs' gradients, so a node's gradient is complete before it
    /// is propagated, however unequal the paths. Consumers that do not lead to the loss are
    /// ignored. This is the interpreter: with a plan installed it switches back to the
    /// interpreter's layout and recomputes the loss first; a planned step is
    /// [`Graph::step`].
    ///
    /// # Errors
    /// Bad handle, [`Error::NotScalar`] unless the loss is 1×1, [`Error::ScalarCapacity`] as
    /// in [`Graph::run_many`].
    pub fn backward(&mut self, loss: Tensor<1, 1>) -> Result<(), Error> {
        self.backward_dyn(loss.id(), false)
    }

    /// Like [`Graph::backward`], but *adds* to the variables' gradients instead of overwriting
    /// them: summing the gradients of micro-batches gives the full-batch gradient of a summed
    /// loss with the memory of one micro-batch. Clear with [`Graph::zero_grads`] first.
    ///
    /// # Errors
    /// As [`Graph::backward`].
    pub fn backward_accumulate(&mut self, loss: Tensor<1, 1>) -> Result<(), Error> {
        self.backward_dyn(loss.id(), true)
    }

    /// Sets every gradient held now to zero: all of them in the interpreter's layout, the
    /// variables' accumulators of an accumulating plan; nothing after a plain planned step
    /// (it holds none).
    pub fn zero_grads(&mut self) {
        if self.layout == Layout::Planned && !self.plan.accumulate {
            return;
        }
        for n in self.nodes.iter() {
            if n.has_grad() && n.grad != UNPLACED {
                let g = n.grad as usize;
                if let Some(s) = self.arena.get_mut(g..g + n.len()) {
                    s.fill(T::ZERO);
                }
            }
        }
    }

    /// Multiplies the gradient of every variable by `factor`, before an optimizer step:
    /// gradient clipping by norm, or turning gradients accumulated over micro-batches into a
    /// mean.
    pub fn scale_grads(&mut self, factor: T) {
        for n in self.nodes.iter() {
            if matches!(n.kind, NodeKind::Variable) && n.has_grad() && n.grad != UNPLACED {
                let g = n.grad as usize;
                if let Some(s) = self.arena.get_mut(g..g + n.len()) {
                    for v in s {
                        *v *= factor;
                    }
                }
            }
        }
    }

    /// Evaluates the loss, backpropagates (overwriting gradients) and returns the loss value.
    /// This is the interpreter (see [`Graph::backward`]).
    ///
    /// # Errors
    /// As [`Graph::run_many`] and [`Graph::backward`].
    pub fn forward_backward(&mut self, loss: Tensor<1, 1>) -> Result<T, Error> {
        self.run_interp(&[loss.id()])?;
        self.backward(loss)?;
        Ok(self
            .value_slice(loss.id())?
            .first()
            .copied()
            .unwrap_or(T::ZERO))
    }

    /// Backprop from an untyped handle; `accumulate` as in [`Graph::backward_accumulate`].
    ///
    /// # Errors
    /// As [`Graph::backward`].
    pub fn backward_dyn(&mut self, loss: NodeId, accumulate: bool) -> Result<(), Error> {
        let li = self.index(loss)?;
        let ln = *self.nodes.get(li).ok_or(Error::UnknownNode(loss))?;
        if ln.shape() != Shape::new(1, 1) {
            return Err(Error::NotScalar(ln.shape()));
        }
        if self.layout != Layout::Interp {
            // The values of the interpreter's layout are not current: compute them.
            self.run_interp(&[loss])?;
        }
        self.mark_ancestors(&[loss])?;
        let ln = *self.nodes.get(li).ok_or(Error::UnknownNode(loss))?;
        for n in self.nodes.iter_mut() {
            n.reached = n.mark && n.has_grad();
            let keep = accumulate && matches!(n.kind, NodeKind::Variable);
            let clear = n.has_grad() && !keep && (n.mark || matches!(n.kind, NodeKind::Variable));
            if clear && n.grad != UNPLACED {
                let g = n.grad as usize;
                if let Some(s) = self.arena.get_mut(g..g + n.len()) {
                    s.fill(T::ZERO);
                }
            }
        }
        if !ln.has_grad() {
            return Ok(()); // the loss depends on no variable: every gradient is zero
        }
        if let Some(g) = self.arena.get_mut(ln.grad as usize) {
            *g += T::ONE;
        }
        for k in (0..=li).rev() {
            let Some(n) = self.nodes.get(k).copied() else {
                continue;
            };
            let NodeKind::Op(op) = n.kind else { continue };
            if !n.mark || !n.has_grad() {
                continue;
            }
            for (i, &j) in n.input_ids().iter().enumerate() {
                let m = *self.nodes.get(j as usize).ok_or(Error::InvalidArgument)?;
                if !m.has_grad() {
                    continue;
                }
                self.op_backward(&op, &n, i, &m)?;
                self.stats.backward_ops = self.stats.backward_ops.wrapping_add(1);
            }
        }
        Ok(())
    }

    /// Runs `op`'s backward kernel for its input number `i` (node `m`), adding into `m`'s
    /// gradient buffer; every other buffer is read through a [`Reader`].
    pub(crate) fn op_backward(
        &mut self,
        op: &O,
        n: &Node<O>,
        i: usize,
        m: &Node<O>,
    ) -> Result<(), Error> {
        let (reader, mid) = split(&mut self.arena, m.grad, m.len())?;
        let views = input_views(&self.nodes, &reader, n)?;
        let out = reader.view(n.value as usize, n.shape())?;
        let out_grad = reader.view(n.grad as usize, n.shape())?;
        let in_grad = MatMut::new(mid, m.shape()).ok_or(Error::InvalidArgument)?;
        op.backward(
            i,
            views.get(..n.input_ids().len()).unwrap_or(&[]),
            out,
            out_grad,
            in_grad,
        );
        Ok(())
    }

    /// Whether the node was reached by the last backprop (it lies on a path from a trainable
    /// variable to the loss).
    ///
    /// # Errors
    /// Bad handle.
    pub fn reached(&self, id: NodeId) -> Result<bool, Error> {
        Ok(self.node(id)?.reached)
    }

    /// Calls `f` for every variable in insertion order, with its value mutable: the hook
    /// optimizers use. [`VariableMut::offset`] counts the scalars of the *trainable* variables
    /// before this one (an offset into per-parameter optimizer state, so that an optimizer
    /// for a partly frozen model needs state for its trainable scalars only). Stops at the
    /// first error. A frozen variable, or one without a gradient held now, comes with an
    /// empty `grad` and `reached == false`.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn for_each_variable<E>(
        &mut self,
        mut f: impl FnMut(VariableMut<'_, T>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut offset = 0;
        for (k, n) in self.nodes.iter().enumerate() {
            if !matches!(n.kind, NodeKind::Variable) {
                continue;
            }
            let len = n.len();
            let (value, grad) = variable_views(&mut self.arena, n.value, n.grad, len);
            let reached = n.reached && !grad.is_empty();
            f(VariableMut {
                id: NodeId::new(self.tag, k as u16),
                offset,
                value,
                grad,
                reached,
            })?;
            if !n.frozen {
                offset += len;
            }
        }
        Ok(())
    }
}

/// A variable's value (mutable) and gradient (read-only; empty when `grad` is unplaced) in
/// the arena. Values are fixed at the bottom of the arena, gradients above them.
pub(crate) fn variable_views<T>(
    arena: &mut [T],
    value: u32,
    grad: u32,
    len: usize,
) -> (&mut [T], &[T]) {
    let (v, g) = (value as usize, grad as usize);
    if grad == UNPLACED || g < v + len {
        let value = arena.get_mut(v..v + len).unwrap_or(&mut []);
        return (value, &[]);
    }
    let (lo, hi) = arena.split_at_mut(g.min(arena.len()));
    let value = lo.get_mut(v..v + len).unwrap_or(&mut []);
    let grad = hi.get(..len).unwrap_or(&[]);
    (value, grad)
}

/// One variable as seen by an optimizer (see [`Graph::for_each_variable`]).
#[derive(Debug)]
pub struct VariableMut<'a, T> {
    /// The variable's handle.
    pub id: NodeId,
    /// Scalars in all earlier trainable variables: this one's offset into per-parameter
    /// state (a frozen variable's offset is where the next trainable one's state starts).
    pub offset: usize,
    /// The value, row-major, to be updated.
    pub value: &'a mut [T],
    /// The gradient from the last backprop.
    pub grad: &'a [T],
    /// Whether the last backprop reached it.
    pub reached: bool,
}

fn write_checked<T: Scalar>(
    arena: &mut [T],
    start: usize,
    len: usize,
    data: &[T],
) -> Result<(), Error> {
    if data.len() != len {
        return Err(Error::LengthMismatch {
            expected: len,
            found: data.len(),
        });
    }
    if data.iter().any(|v| !v.is_finite()) {
        return Err(Error::NonFinite);
    }
    let dst = arena
        .get_mut(start..start + len)
        .ok_or(Error::InvalidArgument)?;
    dst.copy_from_slice(data);
    Ok(())
}
