//! The fixed-capacity computational graph: building, feeding, evaluation and backprop.

use crate::nopanic::SliceExt as _;
use crate::op::MAX_INPUTS;
use crate::plan::PlanTable;
use crate::tag::{next_tag, next_tag_after, TAG_MAX};
use crate::{Error, MatMut, MatRef, Matrix, NodeId, Op, Origin, Scalar, Shape, Tensor};

mod build;
mod io;
mod run;

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
                partial: false,
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
    let (lo, hi) = arena.split_at_most_mut(g.min(arena.len()));
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
