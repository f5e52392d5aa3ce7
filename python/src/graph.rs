//! `embedgrad.Graph`: a generic f64 graph of the standard ops with runtime shapes, opaque
//! `Node` handles, and the crate's optimizers.

use embedgrad_core::Activation;
use embedgrad_core::{NodeId, Shape, Tensor};
use embedgrad_ops::prelude::*;
use embedgrad_ops::{
    leaky_relu::LeakyRelu, mean::Mean, reduce_sum, reduce_sum::ReduceSum, reshape::Reshape,
    scale::Scale, slice_cols::SliceCols, StdOp,
};
use embedgrad_train::init::Init;
use embedgrad_train::layers::DenseSpec;
use embedgrad_train::{
    Adam as RAdam, GradientDescent as RGd, Momentum as RMomentum, Optimizer, SplitMix64,
};
use numpy::PyArray2;
use pyo3::prelude::*;

use crate::arrays;
use crate::{err, EmbedgradError};

/// Node capacity of a Python graph.
pub const NODES: usize = 256;
/// Scalar capacity of a Python graph (2 MB of f64).
pub const SCALARS: usize = 1 << 18;
/// Per-parameter state of the Python optimizers: every trainable scalar a graph can hold
/// (each needs a value and a gradient, so at most half the arena).
pub const STATE: usize = SCALARS / 2;

/// The graph type behind `embedgrad.Graph`.
type PyStdGraph = StdGraph<f64, NODES, SCALARS>;

/// A zeroed box of `T`, allocated and zeroed on the heap (never built on the stack).
///
/// # Safety
/// All-zero bytes must be a valid value of `T`.
unsafe fn zeroed_box<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        // SAFETY: the caller guarantees that all-zero bytes (here: none) are a valid `T`.
        return Box::new(unsafe { core::mem::zeroed() });
    }
    // SAFETY: `layout` has a non-zero size (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` was allocated by the global allocator with `T`'s layout, as `Box` requires;
    // its bytes are zero, a valid `T` by the caller's guarantee; nothing else owns it.
    unsafe { Box::from_raw(p) }
}

/// A graph of the standard ops over f64 with room for 256 nodes and 2^18 scalars. Build it
/// with `placeholder`, `variable`, `constant` and the op methods, which return `Node`
/// handles; `feed` placeholders, `forward` a node, `backward` a 1×1 loss, read `grad`.
#[pyclass(module = "embedgrad", name = "Graph")]
pub struct Graph {
    g: Box<PyStdGraph>,
}

/// A handle of a node of a `Graph` (foreign handles are refused by other graphs).
#[pyclass(module = "embedgrad", name = "Node", frozen)]
#[derive(Clone, Copy)]
pub struct Node {
    id: NodeId,
    rows: usize,
    cols: usize,
}

#[pymethods]
impl Node {
    /// `(rows, cols)`.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The node's index in its graph.
    #[getter]
    fn index(&self) -> usize {
        self.id.index()
    }

    fn __repr__(&self) -> String {
        format!(
            "Node(index={}, shape=({}, {}))",
            self.id.index(),
            self.rows,
            self.cols
        )
    }
}

impl Graph {
    fn node(&self, id: NodeId) -> PyResult<Node> {
        let s = self.g.shape(id).map_err(err)?;
        Ok(Node {
            id,
            rows: s.rows,
            cols: s.cols,
        })
    }

    fn op(&mut self, op: impl Into<StdOp>, inputs: &[&Node]) -> PyResult<Node> {
        let ids: Vec<NodeId> = inputs.iter().map(|n| n.id).collect();
        let id = self.g.push_op(op.into(), &ids).map_err(err)?;
        self.node(id)
    }

    /// Reads `a` for a node of `rows × cols`; `what` names it in errors.
    fn data_for(a: &Bound<'_, PyAny>, rows: usize, cols: usize, what: &str) -> PyResult<Vec<f64>> {
        let arr = arrays::read(a, what)?;
        if !arr.fits(rows, cols) {
            return Err(EmbedgradError::new_err(format!(
                "{what}: shape {}, the node is ({rows}, {cols})",
                arr.shape_text()
            )));
        }
        Ok(arr.data)
    }

    /// Reads a new node's array: its `(rows, cols)` and entries.
    fn matrix(a: &Bound<'_, PyAny>, what: &str) -> PyResult<(Shape, Vec<f64>)> {
        let arr = arrays::read(a, what)?;
        let (r, c) = arr.matrix().ok_or_else(|| {
            EmbedgradError::new_err(format!(
                "{what}: shape {}, needs at most 2 dimensions",
                arr.shape_text()
            ))
        })?;
        Ok((Shape::new(r, c), arr.data))
    }
}

/// `None`, 0 or 1 as a reduction axis.
fn axis(a: Option<i64>) -> PyResult<reduce_sum::Axis> {
    match a {
        None => Ok(reduce_sum::Axis::All),
        Some(0) | Some(-2) => Ok(reduce_sum::Axis::Rows),
        Some(1) | Some(-1) => Ok(reduce_sum::Axis::Cols),
        Some(k) => Err(EmbedgradError::new_err(format!(
            "axis {k}: must be None, 0 or 1"
        ))),
    }
}

#[pymethods]
impl Graph {
    /// An empty graph.
    #[new]
    fn new() -> Self {
        // SAFETY: all-zero bytes are an empty graph: `Graph::empty` documents that every field
        // of it is zero (a zero count, zero scalars, `false`, a `None` function pointer, a zero
        // discriminant), which is how the C API sets a graph up in caller memory. Built on the
        // heap directly because the 2 MB arena would pass through the stack otherwise.
        let g = unsafe { zeroed_box::<PyStdGraph>() };
        Self { g }
    }

    /// `(nodes, scalars)` this graph can hold.
    #[staticmethod]
    fn capacity() -> (usize, usize) {
        (NODES, SCALARS)
    }

    /// Nodes built so far.
    fn __len__(&self) -> usize {
        self.g.len()
    }

    /// A placeholder of `rows × cols`, fed before each run.
    fn placeholder(&mut self, rows: usize, cols: usize) -> PyResult<Node> {
        let id = self
            .g
            .placeholder_dyn(Shape::new(rows, cols))
            .map_err(err)?;
        self.node(id)
    }

    /// A trainable variable holding `value` (a 2-D array; 1-D is a row, 0-D is 1×1).
    fn variable(&mut self, value: &Bound<'_, PyAny>) -> PyResult<Node> {
        let (s, v) = Self::matrix(value, "variable")?;
        let id = self.g.variable_dyn(s, &v).map_err(err)?;
        self.node(id)
    }

    /// A constant holding `value`.
    fn constant(&mut self, value: &Bound<'_, PyAny>) -> PyResult<Node> {
        let (s, v) = Self::matrix(value, "constant")?;
        let id = self.g.constant_dyn(s, &v).map_err(err)?;
        self.node(id)
    }

    /// Whether a variable trains (frozen ones keep their value and get no gradient).
    fn set_trainable(&mut self, node: &Node, trainable: bool) -> PyResult<()> {
        self.g.set_trainable(node.id, trainable).map_err(err)
    }

    /// Feeds a placeholder.
    fn feed(&mut self, node: &Node, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = Self::data_for(value, node.rows, node.cols, "feed")?;
        self.g.feed_slice(node.id, &v).map_err(err)
    }

    /// Sets a variable's value.
    fn assign(&mut self, node: &Node, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let v = Self::data_for(value, node.rows, node.cols, "assign")?;
        self.g.assign_slice(node.id, &v).map_err(err)
    }

    /// Evaluates `node` (and only what it needs) and returns its value.
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        node: &Node,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        self.g.run(node.id).map_err(err)?;
        self.value(py, node)
    }

    /// The node's value now (as last computed, fed or assigned).
    fn value<'py>(&self, py: Python<'py>, node: &Node) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let v = self.g.value_slice(node.id).map_err(err)?;
        arrays::f64_matrix(py, v, node.rows, node.cols)
    }

    /// Backpropagates from a 1×1 loss (computing it first); gradients overwrite.
    fn backward(&mut self, loss: &Node) -> PyResult<()> {
        self.g.backward_dyn(loss.id, false).map_err(err)?;
        Ok(())
    }

    /// The gradient of the last backward's loss with respect to `node`.
    fn grad<'py>(&self, py: Python<'py>, node: &Node) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let v = self.g.grad_slice(node.id).map_err(err)?;
        arrays::f64_matrix(py, v, node.rows, node.cols)
    }

    /// `a · b` (matrix product).
    fn matmul(&mut self, a: &Node, b: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::matmul::MatMul, &[a, b])
    }

    /// `a + b`; `b` may be a row (1×C), a column (R×1) or a scalar (1×1), broadcast.
    fn add(&mut self, a: &Node, b: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::add::Add, &[a, b])
    }

    /// `a − b`, broadcasting `b` as `add` does.
    fn subtract(&mut self, a: &Node, b: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::subtract::Subtract, &[a, b])
    }

    /// `a ⊙ b` (element-wise).
    fn multiply(&mut self, a: &Node, b: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::multiply::Multiply, &[a, b])
    }

    /// `−x`.
    fn negative(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::negative::Negative, &[x])
    }

    /// `factor · x`.
    fn scale(&mut self, x: &Node, factor: f64) -> PyResult<Node> {
        self.op(Scale::new(factor), &[x])
    }

    /// The logistic function.
    fn sigmoid(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::sigmoid::Sigmoid, &[x])
    }

    /// `tanh x`.
    fn tanh(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::tanh::Tanh, &[x])
    }

    /// `max(x, 0)`.
    fn relu(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::relu::Relu, &[x])
    }

    /// `x` where positive, `slope · x` elsewhere.
    #[pyo3(signature = (x, slope = 0.01))]
    fn leaky_relu(&mut self, x: &Node, slope: f64) -> PyResult<Node> {
        self.op(LeakyRelu::new(slope), &[x])
    }

    /// Row-wise softmax.
    fn softmax(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::softmax::Softmax, &[x])
    }

    /// Natural logarithm.
    fn log(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::log::Log, &[x])
    }

    /// `e^x`.
    fn exp(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::exp::Exp, &[x])
    }

    /// `x²`.
    fn square(&mut self, x: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::square::Square, &[x])
    }

    /// Sum over everything (`axis=None`, 1×1), down the columns (`axis=0`, 1×C) or along
    /// the rows (`axis=1`, R×1), as numpy's.
    #[pyo3(signature = (x, axis = None))]
    fn reduce_sum(&mut self, x: &Node, axis: Option<i64>) -> PyResult<Node> {
        let axis = self::axis(axis)?;
        self.op(ReduceSum { axis }, &[x])
    }

    /// Mean over an axis, as `reduce_sum`.
    #[pyo3(signature = (x, axis = None))]
    fn mean(&mut self, x: &Node, axis: Option<i64>) -> PyResult<Node> {
        let axis = self::axis(axis)?;
        self.op(Mean { axis }, &[x])
    }

    /// The same entries as `rows × cols`.
    fn reshape(&mut self, x: &Node, rows: usize, cols: usize) -> PyResult<Node> {
        let op = Reshape::new(rows, cols).map_err(err)?;
        self.op(op, &[x])
    }

    /// Columns `start..start + len`.
    fn slice_cols(&mut self, x: &Node, start: usize, len: usize) -> PyResult<Node> {
        let op = SliceCols::new(start, len).map_err(err)?;
        self.op(op, &[x])
    }

    /// Softmax cross-entropy of `logits` (B×K) against one-hot (or probability) `targets`
    /// (B×K), summed over the rows (1×1).
    fn softmax_cross_entropy(&mut self, logits: &Node, targets: &Node) -> PyResult<Node> {
        self.op(
            embedgrad_ops::softmax_cross_entropy::SoftmaxCrossEntropy,
            &[logits, targets],
        )
    }

    /// Softmax cross-entropy of `logits` (B×K) against class indices `labels` (B×1), summed
    /// over the rows (1×1); rows with a label outside `0..K` are ignored.
    fn sparse_softmax_cross_entropy(&mut self, logits: &Node, labels: &Node) -> PyResult<Node> {
        self.op(
            embedgrad_ops::sparse_softmax_cross_entropy::SparseSoftmaxCrossEntropy,
            &[logits, labels],
        )
    }

    /// Binary cross-entropy of `sigmoid(logits)` against `targets` in `[0, 1]` (1×1).
    fn sigmoid_binary_cross_entropy(&mut self, logits: &Node, targets: &Node) -> PyResult<Node> {
        self.op(
            embedgrad_ops::sigmoid_binary_cross_entropy::SigmoidBinaryCrossEntropy,
            &[logits, targets],
        )
    }

    /// Mean squared error of `prediction` against `target` (1×1).
    fn mse(&mut self, prediction: &Node, target: &Node) -> PyResult<Node> {
        self.op(embedgrad_ops::mse::Mse, &[prediction, target])
    }

    /// A dense layer `activation(x · W + b)` on `x` (`B × IN`): `W` (`IN × outputs`) drawn
    /// from SplitMix64(`seed`) with `init` (default: He uniform before a relu or leaky relu,
    /// Xavier uniform otherwise, as `train::layers::DenseSpec`), `b` zero. `activation` is
    /// `"identity"`, `"sigmoid"`, `"tanh"`, `"relu"` or `"leaky_relu"` (slope 0.01); `init`
    /// one of `"xavier_uniform"`, `"xavier_normal"`, `"he_uniform"`, `"he_normal"`.
    /// Returns `(y, W, b)`.
    #[pyo3(signature = (x, outputs, activation = "identity", init = None, seed = 0))]
    fn dense(
        &mut self,
        x: &Node,
        outputs: usize,
        activation: &str,
        init: Option<&str>,
        seed: u64,
    ) -> PyResult<(Node, Node, Node)> {
        let act = match activation {
            "identity" | "linear" => Activation::Identity,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu(0.01),
            other => {
                return Err(EmbedgradError::new_err(format!(
                    "activation {other:?}: must be identity, sigmoid, tanh, relu or leaky_relu"
                )))
            }
        };
        let spec = DenseSpec::new(outputs, act);
        let init = match init {
            None => spec.init,
            Some("xavier_uniform") => Init::XavierUniform,
            Some("xavier_normal") => Init::XavierNormal,
            Some("he_uniform") => Init::HeUniform,
            Some("he_normal") => Init::HeNormal,
            Some(other) => {
                return Err(EmbedgradError::new_err(format!(
                    "init {other:?}: must be xavier_uniform, xavier_normal, he_uniform or he_normal"
                )))
            }
        };
        let inputs = x.cols;
        let mut rng = SplitMix64::new(seed);
        let w = self
            .g
            .variable_with(Shape::new(inputs, outputs), |v| {
                init.fill(&mut rng, inputs, outputs, v)
            })
            .map_err(err)?;
        let w = self.node(w)?;
        let b = self
            .g
            .variable_with(Shape::new(1, outputs), |_| {})
            .map_err(err)?;
        let b = self.node(b)?;
        let z = self.matmul(x, &w)?;
        let z = self.add(&z, &b)?;
        let y = match act {
            Activation::Identity => z,
            Activation::Sigmoid => self.sigmoid(&z)?,
            Activation::Tanh => self.tanh(&z)?,
            Activation::Relu => self.relu(&z)?,
            Activation::LeakyRelu(slope) => self.leaky_relu(&z, slope)?,
        };
        Ok((y, w, b))
    }

    fn __repr__(&self) -> String {
        format!(
            "Graph(nodes={}, scalars_used={}, capacity=({NODES}, {SCALARS}))",
            self.g.len(),
            self.g.scalars_used()
        )
    }
}

/// The 1×1 loss of a node, checked.
fn loss_of(loss: &Node) -> PyResult<Tensor<1, 1>> {
    if (loss.rows, loss.cols) != (1, 1) {
        return Err(err(embedgrad_core::Error::NotScalar(Shape::new(
            loss.rows, loss.cols,
        ))));
    }
    Ok(Tensor::from_id(loss.id))
}

/// Plain gradient descent: `w ← w − η ∇w`.
#[pyclass(module = "embedgrad", name = "GradientDescent")]
pub struct GradientDescent {
    opt: RGd<f64>,
}

#[pymethods]
impl GradientDescent {
    /// Gradient descent with step size `learning_rate` (finite, ≥ 0).
    #[new]
    fn new(learning_rate: f64) -> PyResult<Self> {
        Ok(Self {
            opt: RGd::try_new(learning_rate).map_err(err)?,
        })
    }

    /// The step size.
    #[getter]
    fn get_learning_rate(&self) -> f64 {
        self.opt.learning_rate
    }

    /// Sets the step size (checked at the next step).
    #[setter]
    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.learning_rate = lr;
    }

    /// Forward, backward, update: returns the loss before the update. Nothing changes on an
    /// error (a non-finite loss or gradient, a bad setting).
    fn minimize(&mut self, graph: &mut Graph, loss: &Node) -> PyResult<f64> {
        self.opt.minimize(&mut graph.g, loss_of(loss)?).map_err(err)
    }
}

/// Gradient descent with momentum (classical or Nesterov's).
#[pyclass(module = "embedgrad", name = "Momentum")]
pub struct Momentum {
    opt: Box<RMomentum<f64, STATE>>,
}

#[pymethods]
impl Momentum {
    /// Momentum with step size `learning_rate` and momentum `momentum` in `[0, 1)`.
    #[new]
    #[pyo3(signature = (learning_rate, momentum = 0.9, nesterov = false))]
    fn new(learning_rate: f64, momentum: f64, nesterov: bool) -> PyResult<Self> {
        // SAFETY: `Momentum` holds two f64, a bool and an array of f64: all-zero bytes are
        // 0.0, false and a zero velocity (its `new` state). Zeroed on the heap because the
        // 1 MB velocity would pass through the stack otherwise.
        let mut opt = unsafe { zeroed_box::<RMomentum<f64, STATE>>() };
        opt.learning_rate = learning_rate;
        opt.momentum = momentum;
        opt.nesterov = nesterov;
        opt.validate().map_err(err)?;
        Ok(Self { opt })
    }

    /// The step size.
    #[getter]
    fn get_learning_rate(&self) -> f64 {
        self.opt.learning_rate
    }

    /// Sets the step size (checked at the next step).
    #[setter]
    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.learning_rate = lr;
    }

    /// Zeroes the velocity.
    fn reset(&mut self) {
        self.opt.reset();
    }

    /// Forward, backward, update: returns the loss before the update.
    fn minimize(&mut self, graph: &mut Graph, loss: &Node) -> PyResult<f64> {
        self.opt.minimize(&mut graph.g, loss_of(loss)?).map_err(err)
    }
}

/// Adam.
#[pyclass(module = "embedgrad", name = "Adam")]
pub struct Adam {
    opt: Box<RAdam<f64, STATE>>,
}

#[pymethods]
impl Adam {
    /// Adam with step size `learning_rate`, decays `beta1`, `beta2` in `[0, 1)` and `eps`.
    #[new]
    #[pyo3(signature = (learning_rate = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8))]
    fn new(learning_rate: f64, beta1: f64, beta2: f64, eps: f64) -> PyResult<Self> {
        // SAFETY: `Adam` holds four f64, a u32 counter and arrays of f64: all-zero bytes are
        // zeros everywhere, its `with` state before the settings below. Zeroed on the heap
        // because the 2 MB of moments would pass through the stack otherwise.
        let mut opt = unsafe { zeroed_box::<RAdam<f64, STATE>>() };
        opt.learning_rate = learning_rate;
        opt.beta1 = beta1;
        opt.beta2 = beta2;
        opt.epsilon = eps;
        opt.reset();
        opt.validate().map_err(err)?;
        Ok(Self { opt })
    }

    /// The step size.
    #[getter]
    fn get_learning_rate(&self) -> f64 {
        self.opt.learning_rate
    }

    /// Sets the step size (checked at the next step).
    #[setter]
    fn set_learning_rate(&mut self, lr: f64) {
        self.opt.learning_rate = lr;
    }

    /// Updates applied so far (Adam's `t`).
    #[getter]
    fn steps(&self) -> u32 {
        self.opt.update_count()
    }

    /// Zeroes the moments and the update count.
    fn reset(&mut self) {
        self.opt.reset();
    }

    /// Forward, backward, update: returns the loss before the update.
    fn minimize(&mut self, graph: &mut Graph, loss: &Node) -> PyResult<f64> {
        self.opt.minimize(&mut graph.g, loss_of(loss)?).map_err(err)
    }
}

/// Adds the graph and optimizer classes to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Graph>()?;
    m.add_class::<Node>()?;
    m.add_class::<GradientDescent>()?;
    m.add_class::<Momentum>()?;
    m.add_class::<Adam>()?;
    Ok(())
}
