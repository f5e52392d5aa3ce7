//! `embedgrad.digits`: the 64-32-10 digits network of `embedgrad-data` (its [`Trainer`] and
//! [`RECIPE`]) and the fleet [`Client`] of federated training.

use std::path::PathBuf;

use embedgrad_data::digits::fleet::{Client, LOCAL};
use embedgrad_data::digits::{self, Net, Part, Recipe, Trainer, RECIPE};
use embedgrad_ops::prelude::*;
use embedgrad_train::data::Evaluation;
use embedgrad_train::safetensors::Dtype;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::arrays::{self, shape_text};
use crate::{err, EmbedgradError};

/// Rows of a mini-batch (the recipe's).
const B: usize = digits::BATCH;
/// Scalars of the digits graph for `B`-row batches.
const SCALARS: usize = digits::capacity(B).1;
/// The digits graph.
type DigitsGraph = StdGraph<f32, { digits::NODES }, SCALARS>;

/// A new, empty digits graph on the heap (38 KB in f32: built where it lives would need
/// unsafe code, and a copy of this size through the stack is harmless on a host).
fn new_graph() -> Box<DigitsGraph> {
    Box::new(StdGraph::empty())
}

/// One weight tensor: its name (as [`Net::params`] writes it), PyTorch's shape, and whether
/// the graph holds it transposed (`IN × OUT`).
struct Spec {
    name: &'static str,
    torch: &'static [usize],
    transposed: bool,
}

/// The four tensors, in [`Net::params`]'s order.
const SPECS: [Spec; 4] = [
    Spec {
        name: "0.weight",
        torch: &[digits::HIDDEN, digits::FEATURES],
        transposed: true,
    },
    Spec {
        name: "0.bias",
        torch: &[digits::HIDDEN],
        transposed: false,
    },
    Spec {
        name: "2.weight",
        torch: &[digits::CLASSES, digits::HIDDEN],
        transposed: true,
    },
    Spec {
        name: "2.bias",
        torch: &[digits::CLASSES],
        transposed: false,
    },
];

/// The graph nodes of the four tensors, in [`SPECS`]'s order.
fn nodes(net: &Net<B>) -> [embedgrad_core::NodeId; 4] {
    [net.w1.id(), net.b1.id(), net.w2.id(), net.b2.id()]
}

/// `src` (`rows × cols`, row-major) transposed.
fn transpose(src: &[f32], rows: usize, cols: usize) -> PyResult<Vec<f32>> {
    let mut out = Vec::with_capacity(src.len());
    for c in 0..cols {
        for r in 0..rows {
            let v = src.get(r * cols + c).ok_or_else(|| {
                EmbedgradError::new_err("internal: weight shorter than its shape")
            })?;
            out.push(*v);
        }
    }
    Ok(out)
}

/// The weights as numpy f32 arrays in PyTorch's layout.
fn get_weights<'py>(
    py: Python<'py>,
    g: &DigitsGraph,
    net: &Net<B>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let mut out = Vec::with_capacity(SPECS.len());
    for (spec, id) in SPECS.iter().zip(nodes(net)) {
        let v = g.value_slice(id).map_err(err)?;
        let data = match spec.torch {
            [o, i] if spec.transposed => transpose(v, *i, *o)?,
            _ => v.to_vec(),
        };
        out.push(arrays::f32_array(py, data, spec.torch)?);
    }
    Ok(out)
}

/// Checks all four tensors (count, dtype, shape, finite in f32), then assigns them: nothing
/// changes unless every one is right.
fn set_weights(g: &mut DigitsGraph, net: &Net<B>, weights: &Bound<'_, PyAny>) -> PyResult<()> {
    let items: Vec<Bound<'_, PyAny>> = weights
        .try_iter()?
        .collect::<PyResult<Vec<Bound<'_, PyAny>>>>()?;
    if items.len() != SPECS.len() {
        let names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        return Err(EmbedgradError::new_err(format!(
            "expected {} tensors ({}), got {}",
            SPECS.len(),
            names.join(", "),
            items.len()
        )));
    }
    let mut checked: Vec<Vec<f32>> = Vec::with_capacity(SPECS.len());
    for (spec, item) in SPECS.iter().zip(&items) {
        let a = arrays::read_float(item, spec.name)?;
        if a.shape.as_slice() != spec.torch {
            return Err(EmbedgradError::new_err(format!(
                "{}: shape {}, the model needs {}",
                spec.name,
                a.shape_text(),
                shape_text(spec.torch)
            )));
        }
        let v: Vec<f32> = a.data.iter().map(|&x| x as f32).collect();
        if let Some(k) = v.iter().position(|x| !x.is_finite()) {
            return Err(EmbedgradError::new_err(format!(
                "{}: element {k} is NaN or infinite (in float32)",
                spec.name
            )));
        }
        let v = match spec.torch {
            [o, i] if spec.transposed => transpose(&v, *o, *i)?,
            _ => v,
        };
        checked.push(v);
    }
    for (v, id) in checked.iter().zip(nodes(net)) {
        g.assign_slice(id, v).map_err(err)?;
    }
    Ok(())
}

/// The weights as a safetensors file (f32, PyTorch's names and layout).
fn to_safetensors<'py>(
    py: Python<'py>,
    g: &DigitsGraph,
    net: &Net<B>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    net.save_weights(g, Dtype::F32, |b| {
        out.extend_from_slice(b);
        true
    })
    .map_err(err)?;
    Ok(PyBytes::new(py, &out))
}

/// A summary as a dict: the mean loss per row, the accuracy, the rows and the correct ones.
fn evaluation<'py>(py: Python<'py>, ev: &Evaluation<f32>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let rows = ev.total.max(1) as f64;
    d.set_item("loss", f64::from(ev.loss) / rows)?;
    d.set_item("accuracy", ev.accuracy())?;
    d.set_item("rows", ev.total)?;
    d.set_item("correct", ev.correct)?;
    Ok(d)
}

/// The index of the largest entry (the first of equals; 0 for an empty row).
fn argmax(row: &[f32]) -> usize {
    embedgrad_train::argmax(row)
}

/// The 64-32-10 digits network (`x → dense 64×32 → relu → dense 32×10`), with the crate's
/// [`Trainer`]: Adam on [`RECIPE`]'s cosine schedule, mini-batches of 16.
#[pyclass(module = "embedgrad.digits", name = "Model")]
pub struct Model {
    g: Box<DigitsGraph>,
    t: Box<Trainer<f32, B>>,
    recipe: Recipe,
    epochs: usize,
}

impl Model {
    fn build(seed: u64) -> PyResult<Self> {
        let mut g = new_graph();
        let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::empty());
        let recipe = Recipe { seed, ..RECIPE };
        t.init(&mut g, &recipe).map_err(err)?;
        Ok(Self {
            g,
            t,
            recipe,
            epochs: 0,
        })
    }
}

#[pymethods]
impl Model {
    /// A new network with weights drawn from SplitMix64(`seed`) (He- then Xavier-uniform,
    /// biases 0), as the Rust recipe draws them.
    #[new]
    #[pyo3(signature = (seed = 42))]
    fn new(seed: u64) -> PyResult<Self> {
        Self::build(seed)
    }

    /// The names of the weight tensors, in `get_weights`'s order (PyTorch's
    /// `nn.Sequential(Linear(64, 32), ReLU(), Linear(32, 10))` state dict).
    #[staticmethod]
    fn names() -> Vec<&'static str> {
        SPECS.iter().map(|s| s.name).collect()
    }

    /// The seed of the initial weights and the shuffles.
    #[getter]
    fn seed(&self) -> u64 {
        self.recipe.seed
    }

    /// Epochs trained so far.
    #[getter]
    fn epochs_trained(&self) -> usize {
        self.epochs
    }

    /// Optimizer steps taken so far.
    #[getter]
    fn steps(&self) -> u32 {
        self.t.steps()
    }

    /// The weights: four float32 arrays in PyTorch's layout (`0.weight` [32, 64], `0.bias`
    /// [32], `2.weight` [10, 32], `2.bias` [10]).
    fn get_weights<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        get_weights(py, &self.g, self.t.net())
    }

    /// Sets the weights from four arrays as `get_weights` returns them; nothing changes
    /// unless all four have the right shape, a floating-point dtype and finite entries.
    fn set_weights(&mut self, weights: &Bound<'_, PyAny>) -> PyResult<()> {
        let net = *self.t.net();
        set_weights(&mut self.g, &net, weights)
    }

    /// Trains `epochs` epochs (default: the recipe's 20) with the crate's `Trainer`; returns
    /// one dict per epoch: `epoch`, `loss` (mean training loss per row, each batch's before
    /// its update), `steps`, `test_loss`, `test_accuracy`.
    #[pyo3(signature = (epochs = None))]
    fn train<'py>(
        &mut self,
        py: Python<'py>,
        epochs: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let n = epochs.unwrap_or(self.recipe.epochs);
        let history = PyList::empty(py);
        for _ in 0..n {
            let loss = self.t.epoch(&mut self.g, |f| f()).map_err(err)?;
            self.epochs += 1;
            let ev = self.t.evaluate(&mut self.g, Part::Test).map_err(err)?;
            let d = PyDict::new(py);
            d.set_item("epoch", self.epochs)?;
            d.set_item("loss", f64::from(loss))?;
            d.set_item("steps", self.t.steps())?;
            d.set_item("test_loss", f64::from(ev.loss) / ev.total.max(1) as f64)?;
            d.set_item("test_accuracy", ev.accuracy())?;
            history.append(d)?;
        }
        Ok(history)
    }

    /// The predicted digit of each row of `x` (`n × 64`, features in `[0, 1]` as `load`
    /// gives them), as int64.
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let a = arrays::read(x, "x")?;
        let n = match a.shape.as_slice() {
            [n, f] if *f == digits::FEATURES => *n,
            _ => {
                return Err(EmbedgradError::new_err(format!(
                    "x: shape {}, needs (n, {})",
                    a.shape_text(),
                    digits::FEATURES
                )))
            }
        };
        let net = *self.t.net();
        let mut out = Vec::with_capacity(n);
        let mut batch = vec![0f32; B * digits::FEATURES];
        for chunk in a.data.chunks(B * digits::FEATURES) {
            batch.fill(0.0);
            for (d, &s) in batch.iter_mut().zip(chunk) {
                *d = s as f32;
            }
            self.g.feed_slice(net.x.id(), &batch).map_err(err)?;
            self.g.run(net.logits.id()).map_err(err)?;
            let scores = self.g.value_slice(net.logits.id()).map_err(err)?;
            let rows = chunk.len() / digits::FEATURES;
            for row in scores.chunks(digits::CLASSES).take(rows) {
                out.push(argmax(row) as i64);
            }
        }
        Ok(PyArray1::from_vec(py, out))
    }

    /// Loss (mean per row), accuracy, rows and correct rows on the 360 held-out images.
    fn evaluate<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let ev = self.t.evaluate(&mut self.g, Part::Test).map_err(err)?;
        evaluation(py, &ev)
    }

    /// The weights as a safetensors file (float32, PyTorch's names and layout).
    fn to_safetensors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        to_safetensors(py, &self.g, self.t.net())
    }

    /// Loads the weights from a safetensors file (nothing changes unless the whole file is
    /// right).
    fn load_safetensors(&mut self, data: &[u8]) -> PyResult<()> {
        let net = *self.t.net();
        net.load_weights(&mut self.g, data).map_err(err)
    }

    /// A new model (seed `seed` for its shuffles) with the weights of a safetensors file.
    #[staticmethod]
    #[pyo3(signature = (data, seed = 42))]
    fn from_safetensors(data: &[u8], seed: u64) -> PyResult<Self> {
        let mut m = Self::build(seed)?;
        m.load_safetensors(data)?;
        Ok(m)
    }

    /// Writes the weights to a safetensors file.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let bytes = self.to_safetensors(py)?;
        std::fs::write(path, bytes.as_bytes())?;
        Ok(())
    }

    /// A new model with the weights of a safetensors file.
    #[staticmethod]
    #[pyo3(signature = (path, seed = 42))]
    fn load(path: PathBuf, seed: u64) -> PyResult<Self> {
        let data = std::fs::read(path)?;
        Self::from_safetensors(&data, seed)
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(seed={}, epochs_trained={}, steps={})",
            self.recipe.seed,
            self.epochs,
            self.t.steps()
        )
    }
}

/// One device of the federated fleet: the training rows of three digits, the network with the
/// global model's initial weights, and the local round of `fleet::LOCAL` (plain gradient
/// descent, resumable epoch by epoch).
#[pyclass(module = "embedgrad.digits", name = "FleetClient")]
pub struct FleetClient {
    g: Box<DigitsGraph>,
    c: Box<Client<f32, B>>,
}

impl FleetClient {
    fn local(
        epochs: Option<u32>,
        learning_rate: Option<f64>,
    ) -> embedgrad_data::digits::fleet::Local {
        let mut l = LOCAL;
        if let Some(e) = epochs {
            l.epochs = e;
        }
        if let Some(lr) = learning_rate {
            l.learning_rate = lr;
        }
        l
    }
}

#[pymethods]
impl FleetClient {
    /// Client `client` of a fleet of `clients`.
    #[new]
    #[pyo3(signature = (client, clients = 10))]
    fn new(client: usize, clients: usize) -> PyResult<Self> {
        let mut g = new_graph();
        let mut c: Box<Client<f32, B>> = Box::new(Client::empty());
        c.init(&mut g, client, clients)
            .map_err(|e| EmbedgradError::new_err(format!("client {client} of {clients}: {e}")))?;
        Ok(Self { g, c })
    }

    /// `(client, clients)`.
    fn id(&self) -> (usize, usize) {
        self.c.id()
    }

    /// The digits this client's shard holds.
    fn classes(&self) -> Vec<usize> {
        self.c
            .classes()
            .iter()
            .enumerate()
            .filter_map(|(k, &o)| o.then_some(k))
            .collect()
    }

    /// Training rows of this client's shard (FedAvg's weight).
    fn rows(&self) -> usize {
        self.c.rows().len()
    }

    /// The row numbers (into `digits.load()`) of this client's shard.
    fn row_indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.c.rows().iter().map(|&r| i64::from(r)).collect())
    }

    /// The names of the weight tensors, in `get_weights`'s order.
    #[staticmethod]
    fn names() -> Vec<&'static str> {
        SPECS.iter().map(|s| s.name).collect()
    }

    /// The weights, as `Model.get_weights`.
    fn get_weights<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        get_weights(py, &self.g, self.c.net())
    }

    /// Sets the weights, as `Model.set_weights`.
    fn set_weights(&mut self, weights: &Bound<'_, PyAny>) -> PyResult<()> {
        let net = *self.c.net();
        set_weights(&mut self.g, &net, weights)
    }

    /// One round of local training from the weights now set: `epochs` (default 5) epochs of
    /// plain gradient descent at `learning_rate` (default 0.03, on the loss summed over a
    /// batch of 16). Returns `loss` (mean per row seen), `rows` and `steps`.
    #[pyo3(signature = (round, epochs = None, learning_rate = None))]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        round: u32,
        epochs: Option<u32>,
        learning_rate: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let local = Self::local(epochs, learning_rate);
        let s = self.c.fit(&mut self.g, round, &local).map_err(err)?;
        let d = PyDict::new(py);
        d.set_item("loss", f64::from(s.loss))?;
        d.set_item("rows", s.rows)?;
        d.set_item("steps", s.steps)?;
        Ok(d)
    }

    /// Epoch `epoch` of round `round` alone (the same as that epoch of `fit`, whatever ran
    /// before: how a device resumes a round after a checkpoint). Returns `loss` (mean per
    /// row), `rows` and `steps`.
    #[pyo3(signature = (round, epoch, learning_rate = None))]
    fn fit_epoch<'py>(
        &mut self,
        py: Python<'py>,
        round: u32,
        epoch: u32,
        learning_rate: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let local = Self::local(None, learning_rate);
        let (total, steps) = self
            .c
            .epoch(&mut self.g, round, epoch, &local)
            .map_err(err)?;
        let rows = self.c.rows().len();
        let d = PyDict::new(py);
        d.set_item("loss", f64::from(total) / rows.max(1) as f64)?;
        d.set_item("rows", rows)?;
        d.set_item("steps", steps)?;
        Ok(d)
    }

    /// Loss (mean per row), accuracy, rows and correct rows of the weights now set on the
    /// 360 held-out images.
    fn evaluate<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let ev = self.c.evaluate(&mut self.g).map_err(err)?;
        evaluation(py, &ev)
    }

    /// The weights as a safetensors file.
    fn to_safetensors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        to_safetensors(py, &self.g, self.c.net())
    }

    /// Loads the weights from a safetensors file (nothing changes unless the whole file is
    /// right).
    fn load_safetensors(&mut self, data: &[u8]) -> PyResult<()> {
        let net = *self.c.net();
        net.load_weights(&mut self.g, data).map_err(err)
    }

    fn __repr__(&self) -> String {
        let (c, n) = self.c.id();
        format!(
            "FleetClient(client={c}, clients={n}, classes={:?}, rows={})",
            self.classes(),
            self.c.rows().len()
        )
    }
}

/// The 1,797 images as float32 features `p / 16` (`[1797, 64]`) and their int64 labels.
#[pyfunction]
fn digits_load(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyArray1<i64>>)> {
    let x: Vec<f32> = digits::PIXELS
        .iter()
        .map(|&p| f32::from(p) / f32::from(digits::MAX_PIXEL))
        .collect();
    let x = arrays::f32_array(py, x, &[digits::SAMPLES, digits::FEATURES])?;
    let y: Vec<i64> = digits::LABELS.iter().map(|&l| i64::from(l)).collect();
    Ok((x, PyArray1::from_vec(py, y)))
}

/// Row numbers as a numpy int64 array.
type Indices<'py> = Bound<'py, PyArray1<i64>>;

/// The crate's fixed split: `(train_idx, test_idx)`, 1,437 and 360 row numbers (int64).
#[pyfunction]
fn digits_split(py: Python<'_>) -> PyResult<(Indices<'_>, Indices<'_>)> {
    let mut idx = [0u16; digits::SAMPLES];
    let (train, test) = digits::split(&mut idx).map_err(err)?;
    let conv = |s: &[u16]| s.iter().map(|&r| i64::from(r)).collect::<Vec<i64>>();
    Ok((
        PyArray1::from_vec(py, conv(train)),
        PyArray1::from_vec(py, conv(test)),
    ))
}

/// Adds the digits classes, functions and constants to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<FleetClient>()?;
    m.add_function(wrap_pyfunction!(digits_load, m)?)?;
    m.add_function(wrap_pyfunction!(digits_split, m)?)?;
    m.add("DIGITS_SAMPLES", digits::SAMPLES)?;
    m.add("DIGITS_FEATURES", digits::FEATURES)?;
    m.add("DIGITS_CLASSES", digits::CLASSES)?;
    m.add("DIGITS_TRAIN", digits::TRAIN)?;
    m.add("DIGITS_TEST", digits::TEST)?;
    m.add("DIGITS_BATCH", B)?;
    m.add("DIGITS_EPOCHS", RECIPE.epochs)?;
    Ok(())
}
