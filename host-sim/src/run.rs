//! Training a seed example through the graph, exactly as SEED-EXAMPLES.md specifies.
//!
//! Each example is built as the tutorial's single full-batch graph (`B` = all points) in a
//! [`StdGraph`] on the heap, with the exact capacities that [`Graph::requirements`] reports
//! (the constants below; a test rebuilds the graphs and fails if they change). One step is
//! [`GradientDescent::minimize`]: a forward pass, backprop, then the update of every variable.
//!
//! ```
//! use embedgrad_host_sim::run;
//! use embedgrad_data::seed::Example;
//! let r = run::train::<f32>(Example::MlpXor, None, |_, _| {})?;
//! assert!(r.accuracy() >= 0.9);
//! assert_eq!(r.log.len(), 1000 / 10 + 1); // steps 0, 10, …, 990 and the final loss at 1000
//! # Ok::<(), embedgrad_core::Error>(())
//! ```
//!
//! [`Graph::requirements`]: embedgrad_core::Graph::requirements

use embedgrad_core::{Error, Requirements, Scalar};
use embedgrad_data::seed::{self, Example};
use embedgrad_ops::prelude::*;
use embedgrad_train::{evaluate, Feeds, GradientDescent};

// By hand: X and C are n × 2 placeholders (no gradient); every variable and every op on a path
// from one has a value and a gradient of its size; the loss is
// softmax → log → multiply → reduce_sum(axis 1) → reduce_sum → negative.
// perceptron (n = 100):  X, C 400 + W, b 12 + matmul, add 800 + softmax, log, multiply 1200
//                        + row sums 200 + sum, negative 4 = 2616 scalars in 12 nodes;
// mlp_xor (n = 100):     400 + 2 × (12 + 800) + sigmoid 400 + 1200 + 200 + 4 = 3828 in 17;
// spiral_deep (n = 200): 800 + layer 1 (96 + 3 × 6400) + layers 2, 3 (544 + 3 × 6400 each)
//                        + layer 4 (68 + 1600) + 2400 + 400 + 4 = 64056 in 27.

/// Nodes of the full-batch `perceptron` graph.
pub const PERCEPTRON_NODES: usize = 12;
/// Scalars (values and gradients) of the full-batch `perceptron` graph.
pub const PERCEPTRON_SCALARS: usize = 2616;
/// Nodes of the full-batch `mlp_xor` graph.
pub const MLP_XOR_NODES: usize = 17;
/// Scalars of the full-batch `mlp_xor` graph.
pub const MLP_XOR_SCALARS: usize = 3828;
/// Nodes of the full-batch `spiral_deep` graph.
pub const SPIRAL_DEEP_NODES: usize = 27;
/// Scalars of the full-batch `spiral_deep` graph.
pub const SPIRAL_DEEP_SCALARS: usize = 64_056;

/// The capacities this module declares for an example's graph, as `(nodes, scalars)`.
pub const fn capacities(example: Example) -> (usize, usize) {
    match example {
        Example::Perceptron => (PERCEPTRON_NODES, PERCEPTRON_SCALARS),
        Example::MlpXor => (MLP_XOR_NODES, MLP_XOR_SCALARS),
        Example::SpiralDeep => (SPIRAL_DEEP_NODES, SPIRAL_DEEP_SCALARS),
    }
}

/// Builds an example's full-batch graph with generous capacities and reports what it really
/// needs: what the constants of this module must be.
///
/// # Errors
/// Capacity errors if the example outgrew the generous graph (64 nodes, 100,000 scalars).
pub fn measure_requirements<T: Scalar>(example: Example) -> Result<Requirements, Error> {
    fn measure<T: Scalar, const B: usize>(example: Example) -> Result<Requirements, Error> {
        let mut g: Box<StdGraph<T, 64, 100_000>> = Box::new(StdGraph::new());
        let mut rng = example.generate(|_, _, _| {});
        seed::build::<T, StdOp, 64, 100_000, B>(example, &mut g, &mut rng)?;
        Ok(g.requirements())
    }
    on_big_stack(move || match example {
        Example::SpiralDeep => measure::<T, 200>(example),
        _ => measure::<T, 100>(example),
    })
}

/// The square of the plane a picture shows: centred on the data, with a margin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    /// Left edge.
    pub x0: f64,
    /// Right edge.
    pub x1: f64,
    /// Bottom edge.
    pub y0: f64,
    /// Top edge.
    pub y1: f64,
}

impl View {
    /// The square around `points` (`[x, y]`), 12% wider than their larger extent; `-1..1`
    /// on both axes when there are none.
    pub fn around<'a>(points: impl IntoIterator<Item = &'a [f64; 2]>) -> Self {
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in points {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        if !(lo[0].is_finite() && lo[1].is_finite() && hi[0].is_finite() && hi[1].is_finite()) {
            return Self {
                x0: -1.0,
                x1: 1.0,
                y0: -1.0,
                y1: 1.0,
            };
        }
        let half = 0.5 * (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-9) * 1.12;
        let (cx, cy) = (0.5 * (lo[0] + hi[0]), 0.5 * (lo[1] + hi[1]));
        Self {
            x0: cx - half,
            x1: cx + half,
            y0: cy - half,
            y1: cy + half,
        }
    }
}

/// A grid of the model's predictions over a [`View`], for pictures of the decision regions.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// The part of the plane it covers.
    pub view: View,
    /// Cells per side.
    pub n: usize,
    /// Classes: the probabilities per cell.
    pub classes: usize,
    /// The class probabilities at each cell's centre (`classes` per cell), cells row by row
    /// from the bottom (`y0`) up, each row from left to right.
    pub probs: Vec<f64>,
}

impl Grid {
    /// The centre of cell `(ix, iy)` (column, row from the bottom).
    pub fn centre(&self, ix: usize, iy: usize) -> [f64; 2] {
        let n = self.n.max(1) as f64;
        let v = &self.view;
        [
            v.x0 + (ix as f64 + 0.5) * (v.x1 - v.x0) / n,
            v.y0 + (iy as f64 + 0.5) * (v.y1 - v.y0) / n,
        ]
    }

    /// The class probabilities of cell `k` (row-major from the bottom left).
    pub fn cell(&self, k: usize) -> &[f64] {
        let c = self.classes;
        self.probs.get(k * c..(k + 1) * c).unwrap_or(&[])
    }
}

/// A finished training run.
#[derive(Clone, Debug, PartialEq)]
pub struct Run<T> {
    /// The example.
    pub example: Example,
    /// `(step, loss)` for steps 0, 10, 20, … (the loss computed in that step, before its
    /// update), then `(steps, loss after the final update)`.
    pub log: Vec<(usize, T)>,
    /// The loss after the final update.
    pub final_loss: T,
    /// Training points classified correctly after the final update.
    pub correct: usize,
    /// Training points.
    pub points: usize,
    /// The training data as drawn (in f64): `([x, y], class)`, in the rows of `X`.
    pub data: Vec<([f64; 2], u8)>,
    /// The trained variables, in insertion order (`W1, b1, W2, b2, …`), row-major.
    pub params: Vec<Vec<f64>>,
    /// The part of the plane a picture of the data shows ([`View::around`] the data).
    pub view: View,
    /// Predictions on a grid over [`Run::view`], if asked for.
    pub grid: Option<Grid>,
    /// What the graph occupied.
    pub requirements: Requirements,
}

impl<T> Run<T> {
    /// `correct / points`.
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.points.max(1) as f64
    }
}

/// Trains an example in precision `T` as specified, full batch, calling `progress(step, loss)`
/// for every logged step (steps 0, 10, 20, … and the final loss at `steps`). With
/// `grid = Some(n)` it also evaluates the trained model on an `n × n` grid over the data.
///
/// The graph is built on the heap, and the work runs on a thread with a large stack (a graph's
/// initial value is built on the stack before it is boxed, which a debug build does not elide).
///
/// # Errors
/// Graph errors; [`Error::NonFinite`] if training diverges.
pub fn train<T: Scalar>(
    example: Example,
    grid: Option<usize>,
    progress: impl FnMut(usize, T) + Send,
) -> Result<Run<T>, Error> {
    train_opt(example, grid, false, progress)
}

/// [`train`] with the step plan on or off (`planned`): the same curves, planned and fused
/// (see `embedgrad_core::plan`).
///
/// # Errors
/// As [`train`].
pub fn train_opt<T: Scalar>(
    example: Example,
    grid: Option<usize>,
    planned: bool,
    progress: impl FnMut(usize, T) + Send,
) -> Result<Run<T>, Error> {
    on_big_stack(move || match example {
        Example::Perceptron => train_with::<T, PERCEPTRON_NODES, PERCEPTRON_SCALARS, 100>(
            example, grid, planned, progress,
        ),
        Example::MlpXor => {
            train_with::<T, MLP_XOR_NODES, MLP_XOR_SCALARS, 100>(example, grid, planned, progress)
        }
        Example::SpiralDeep => train_with::<T, SPIRAL_DEEP_NODES, SPIRAL_DEEP_SCALARS, 200>(
            example, grid, planned, progress,
        ),
    })
}

/// The example's graph (full batch), built and planned, for reports: the plan's steps and
/// buffers, and its requirements planned and unplanned.
///
/// # Errors
/// Graph errors.
pub fn plan_report(example: Example) -> Result<PlanReport, Error> {
    fn report<const B: usize>(example: Example) -> Result<PlanReport, Error> {
        let mut g: Box<StdGraph<f32, 64, 100_000>> = Box::new(StdGraph::new());
        let mut rng = example.generate(|_, _, _| {});
        let net = seed::build::<f32, StdOp, 64, 100_000, B>(example, &mut g, &mut rng)?;
        let summary = g.plan(net.loss, embedgrad_core::PlanOptions::default())?;
        let mut steps = Vec::new();
        g.plan_steps(|s| steps.push(s));
        let mut buffers = Vec::new();
        g.plan_buffers(|b| buffers.push(b));
        buffers.sort_by_key(|b| (b.offset, b.start));
        let names = (0..g.len())
            .map(|i| match g.node_at(i).and_then(|id| g.kind(id).ok()) {
                Some(embedgrad_core::NodeKind::Op(op)) => embedgrad_core::Op::<f32>::name(&op),
                Some(embedgrad_core::NodeKind::Placeholder) => "placeholder",
                Some(embedgrad_core::NodeKind::Variable) => "variable",
                Some(embedgrad_core::NodeKind::Constant) => "constant",
                None => "",
            })
            .collect();
        Ok(PlanReport {
            example,
            rows: B,
            summary,
            steps,
            buffers,
            names,
            fixed: g.fixed_scalars(),
            graph_bytes: StdGraph::<f32, 64, 100_000>::bytes_for(g.len(), summary.scalars),
            unplanned_bytes: StdGraph::<f32, 64, 100_000>::bytes_for(
                g.len(),
                summary.unplanned_scalars,
            ),
        })
    }
    on_big_stack(move || match example {
        Example::SpiralDeep => report::<200>(example),
        _ => report::<100>(example),
    })
}

/// A seed example's step plan (see [`plan_report`]).
#[derive(Clone, Debug)]
pub struct PlanReport {
    /// The example.
    pub example: Example,
    /// Rows of the batch.
    pub rows: usize,
    /// The plan's summary.
    pub summary: embedgrad_core::PlanSummary,
    /// Its steps, in forward order.
    pub steps: Vec<embedgrad_core::StepInfo>,
    /// Its buffers, by offset.
    pub buffers: Vec<embedgrad_core::PlanBuffer>,
    /// Each node's kind or op name, by index.
    pub names: Vec<&'static str>,
    /// Scalars of the fixed values (inputs, targets, parameters).
    pub fixed: usize,
    /// Bytes of an f32 graph with the planned capacity (on this host).
    pub graph_bytes: usize,
    /// Bytes of an f32 graph with the unplanned capacity (on this host).
    pub unplanned_bytes: usize,
}

/// Runs `f` on a thread with a 64 MiB stack and returns its result.
fn on_big_stack<R: Send>(f: impl FnOnce() -> Result<R, Error> + Send) -> Result<R, Error> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("embedgrad-train".into())
            .stack_size(64 << 20)
            .spawn_scoped(s, f)
            .map_err(|_| Error::InvalidArgument)?
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

fn train_with<T: Scalar, const N: usize, const S: usize, const B: usize>(
    example: Example,
    grid: Option<usize>,
    planned: bool,
    mut progress: impl FnMut(usize, T),
) -> Result<Run<T>, Error> {
    let n = example.points();
    let mut xs = vec![T::ZERO; 2 * n];
    let mut cs = vec![T::ZERO; 2 * n];
    let mut labels = vec![0u8; n];
    let mut rng = seed::fill(example, &mut xs, &mut cs, &mut labels)?;
    let mut data = vec![([0.0; 2], 0); n];
    example.generate(|i, p, l| {
        if let Some(d) = data.get_mut(i) {
            *d = (p, l);
        }
    });

    let mut g: Box<StdGraph<T, N, S>> = Box::new(StdGraph::new());
    let net = seed::build::<T, StdOp, N, S, B>(example, &mut g, &mut rng)?;
    g.feed_slice(net.x.id(), &xs)?;
    g.feed_slice(net.c.id(), &cs)?;
    if planned {
        g.plan(net.loss, embedgrad_core::PlanOptions::default())?;
    }
    let mut opt = GradientDescent::new(T::from_f64(example.learning_rate()));
    let mut log = Vec::with_capacity(example.steps() / 10 + 2);
    for step in 0..example.steps() {
        let loss = opt.minimize(&mut g, net.loss)?;
        if step % 10 == 0 {
            log.push((step, loss));
            progress(step, loss);
        }
    }
    let feeds = Feeds {
        x: net.x.id(),
        y: net.c.id(),
        loss: net.loss.id(),
    };
    let (final_loss, correct) = evaluate(&mut g, feeds, net.p.id(), &xs, &cs, &labels)?;
    log.push((example.steps(), final_loss));
    progress(example.steps(), final_loss);

    let mut params = Vec::new();
    let vars: Vec<_> = g.variables().collect();
    for id in vars {
        params.push(g.value_slice(id)?.iter().map(|v| v.to_f64()).collect());
    }
    let view = View::around(data.iter().map(|(p, _)| p));
    let grid = match grid {
        Some(cells) => Some(predict_grid(&mut g, net, view, cells)?),
        None => None,
    };
    Ok(Run {
        example,
        log,
        final_loss,
        correct,
        points: n,
        data,
        params,
        view,
        grid,
        requirements: g.requirements(),
    })
}

/// Evaluates the class probabilities on a `cells × cells` grid over `view`, `B` points per
/// run.
fn predict_grid<T: Scalar, const N: usize, const S: usize, const B: usize, const K: usize>(
    g: &mut StdGraph<T, N, S>,
    net: seed::Net<B, 2, K>,
    view: View,
    cells: usize,
) -> Result<Grid, Error> {
    let mut grid = Grid {
        view,
        n: cells,
        classes: K,
        probs: Vec::with_capacity(cells * cells * K),
    };
    let centres: Vec<[f64; 2]> = (0..cells * cells)
        .map(|k| grid.centre(k % cells, k / cells))
        .collect();
    let mut batch = vec![T::ZERO; 2 * B];
    for chunk in centres.chunks(B) {
        batch.fill(T::ZERO);
        for (dst, c) in batch.chunks_exact_mut(2).zip(chunk) {
            dst.copy_from_slice(&[T::from_f64(c[0]), T::from_f64(c[1])]);
        }
        g.feed_slice(net.x.id(), &batch)?;
        g.run(net.p.id())?;
        let p = g.value_slice(net.p.id())?;
        grid.probs
            .extend(p.iter().take(chunk.len() * K).map(|v| v.to_f64()));
    }
    Ok(grid)
}
