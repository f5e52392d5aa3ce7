//! Data sets that can live in flash, fixed-size mini-batches, per-epoch shuffling without
//! allocation, a deterministic train/test split, and accuracy on held-out data.
//!
//! - A [`Table`] is `rows × dim` features stored row-major as `f32`, `f64`, or `u8`/`i8`
//!   with a scale and offset (`value = raw · scale + offset`), decoded on the fly — a
//!   `static` array of bytes stays in flash and costs a quarter of `f32`.
//! - A [`Dataset`] pairs a table with one class label (`u8`) per row.
//! - Rows are chosen by **indices** in a caller-provided buffer (`[u16]`, `[u8]` or
//!   `[usize]`): [`Dataset::split`] shuffles them once into a train and a test part,
//!   [`shuffle`] reshuffles the train part every epoch (Fisher–Yates driven by a seeded
//!   [`SplitMix64`]: the same seed gives the same order on every target).
//! - [`Dataset::fill_batch`] decodes `B` rows into caller buffers the size of the input and
//!   target placeholders ([`Dataset::fill_range`] takes `B` consecutive rows instead);
//!   [`Dataset::feed_batch`] also feeds them. Targets are one-hot rows
//!   (`B×K`) or labels (`B×1`, for `sparse_softmax_cross_entropy`, or 0/1 targets for
//!   `sigmoid_binary_cross_entropy` with `K = 2`): see [`Targets`].
//! - The last batch of an epoch may be short: its missing rows are **padding** — zero features,
//!   an all-zero one-hot row or the invalid label `K` — which `softmax_cross_entropy` and
//!   `sparse_softmax_cross_entropy` ignore exactly (zero loss, zero gradient). With other
//!   losses, make `B` divide the number of rows, or drop the short batch.
//! - [`Dataset::train_epoch`] and [`Dataset::evaluate`] run whole epochs; evaluation counts
//!   the rows whose score argmax (logits or probabilities) equals the label.
//!
//! ```
//! use embedgrad_core::Matrix;
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::data::{shuffle, Dataset, Table, Targets};
//! use embedgrad_train::{init::Init, Adam, Feeds, SplitMix64};
//!
//! // Twelve points as bytes (in flash): class 1 when x > y.
//! static X: [u8; 24] = [
//!     10, 200, 30, 180, 50, 250, 5, 90, 100, 160, 70, 120, // class 0
//!     200, 10, 180, 30, 250, 50, 90, 5, 160, 100, 120, 70, // class 1
//! ];
//! static LABELS: [u8; 12] = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
//! let data = Dataset::new(Table::u8(&X, 2, 1.0 / 255.0, -0.5), &LABELS, 2)?;
//!
//! // A deterministic 8/4 split of row indices.
//! let mut rng = SplitMix64::new(7);
//! let mut idx = [0u16; 12];
//! let (train, test) = data.split(&mut rng, &mut idx, 4)?;
//!
//! // Logistic regression on batches of 4 rows, labels as targets.
//! const B: usize = 4;
//! let mut g: StdGraph<f32, 8, 64> = StdGraph::new();
//! let x = g.placeholder::<B, 2>()?;
//! let y = g.placeholder::<B, 1>()?;
//! let w = g.variable(&Init::XavierUniform.matrix::<f32, 2, 2>(&mut rng))?;
//! let b = g.variable(&Matrix::<f32, 1, 2>::zeros())?;
//! let xw = g.matmul(x, w)?;
//! let logits = g.add(xw, b)?;
//! let loss = g.sparse_softmax_cross_entropy(logits, y)?;
//! let feeds = Feeds { x: x.id(), y: y.id(), loss: loss.id() };
//!
//! let mut opt: Adam<f32, 6> = Adam::new(0.1);
//! let (mut xb, mut yb) = ([0.0f32; B * 2], [0.0f32; B]); // placeholder-sized buffers
//! for _epoch in 0..60 {
//!     shuffle(&mut rng, train);
//!     data.train_epoch(&mut opt, &mut g, feeds, Targets::Labels, train, &mut xb, &mut yb)?;
//! }
//! let held_out = data.evaluate(&mut g, feeds, Targets::Labels, logits.id(), test, &mut xb, &mut yb)?;
//! assert_eq!(held_out.accuracy(), 1.0);
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use crate::optim::{minimize, Feeds, Optimizer};
use crate::rng::SplitMix64;
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::{Error, Graph, NodeId, Op, Scalar, Tensor};

mod table;

pub use table::{Storage, Table};

/// How targets are written for a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Targets {
    /// One-hot rows, `B × K` (for `softmax_cross_entropy` or the tutorial's loss). Padding
    /// rows are all zero.
    OneHot,
    /// The label as a scalar, `B × 1` (for `sparse_softmax_cross_entropy`, or as a 0/1
    /// target for `sigmoid_binary_cross_entropy` when `K = 2`). Padding rows hold `K`, an
    /// invalid label.
    Labels,
}

impl Targets {
    /// Target scalars per row for `classes` classes.
    pub const fn width(self, classes: usize) -> usize {
        match self {
            Targets::OneHot => classes,
            Targets::Labels => 1,
        }
    }
}

/// The outcome of [`Dataset::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Evaluation<T> {
    /// The loss summed over all batches (padding rows included; they add 0 to the softmax
    /// cross-entropies).
    pub loss: T,
    /// Rows whose score argmax equals their label.
    pub correct: usize,
    /// Rows evaluated (padding excluded).
    pub total: usize,
}

impl<T> Evaluation<T> {
    /// `correct / total` (0 for no rows).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// A labelled data set: a [`Table`] of features and one class label per row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dataset<'a> {
    x: Table<'a>,
    labels: &'a [u8],
    classes: usize,
}

impl<'a> Dataset<'a> {
    /// A data set with `classes` classes (labels `0..classes`, at most 256). Every feature
    /// and label is checked here, once, so that a bad row is reported with its number before
    /// any training (`f32`/`f64` storage is read through once; byte storage only has its scale
    /// and offset checked, since a byte decodes to a finite value).
    ///
    /// ```
    /// use embedgrad_core::Error;
    /// use embedgrad_train::data::{Dataset, Table};
    /// let x = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
    /// let err = Dataset::new(Table::f32(&x, 2), &[0, 2, 1], 2).unwrap_err();
    /// assert!(matches!(err, Error::InvalidLabel { row: 1, classes: 2, .. }));
    /// assert_eq!(err.to_string(), "invalid label 2 in row 1: must be a class index 0..2");
    /// let x = [0.0f32, 1.0, f32::NAN, 3.0];
    /// let err = Dataset::new(Table::f32(&x, 2), &[0, 1], 2).unwrap_err();
    /// assert!(matches!(err, Error::NonFiniteFeature { row: 1, col: 0, .. }));
    /// ```
    ///
    /// # Errors
    /// As [`Table::validate`] ([`Error::NonFiniteFeature`] with the row and column of a NaN
    /// or infinite feature, …); [`Error::LengthMismatch`] unless there is one label per row;
    /// [`Error::InvalidParameter`] (`"classes"`) for `classes` outside `1..=256`;
    /// [`Error::InvalidLabel`] (row, label, classes) for the first label `≥ classes`.
    pub fn new(x: Table<'a>, labels: &'a [u8], classes: usize) -> Result<Self, Error> {
        x.validate()?;
        if labels.len() != x.rows() {
            return Err(Error::LengthMismatch {
                expected: x.rows(),
                found: labels.len(),
            });
        }
        if !(1..=256).contains(&classes) {
            return Err(Error::InvalidParameter {
                name: "classes",
                value: classes as f64,
                expected: "in 1..=256",
            });
        }
        if let Some((row, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= classes)
        {
            return Err(Error::InvalidLabel {
                row,
                label: f64::from(l),
                classes,
            });
        }
        Ok(Self { x, labels, classes })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` for a data set without rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per row.
    pub fn dim(&self) -> usize {
        self.x.dim()
    }

    /// Number of classes `K`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The features.
    pub fn features(&self) -> Table<'a> {
        self.x
    }

    /// All labels.
    pub fn labels(&self) -> &'a [u8] {
        self.labels
    }

    /// The label of row `i`.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    /// Decodes the features of row `i` (see [`Table::row_into`]).
    ///
    /// # Errors
    /// As [`Table::row_into`].
    pub fn row_into<T: Scalar>(&self, i: usize, out: &mut [T]) -> Result<(), Error> {
        self.x.row_into(i, out)
    }

    /// How many rows fit in buffers `x` (batch × dim) and `y` (batch × target width), or an
    /// error when they do not describe the same batch size.
    fn batch_rows<T>(&self, x: &[T], y: &[T], targets: Targets) -> Result<usize, Error> {
        let d = self.dim();
        let w = targets.width(self.classes);
        let b = x.len().checked_div(d).unwrap_or(0);
        if b == 0 || b * d != x.len() {
            return Err(Error::LengthMismatch {
                expected: b.max(1) * d,
                found: x.len(),
            });
        }
        if y.len() != b * w {
            return Err(Error::LengthMismatch {
                expected: b * w,
                found: y.len(),
            });
        }
        Ok(b)
    }

    /// Decodes the rows `indices` into a batch: features into `x` (`B × dim`, row-major)
    /// and targets into `y` (`B × K` or `B × 1`, see [`Targets`]), where `B` is `x`'s length
    /// over `dim`. When `indices` has fewer than `B` entries, the remaining rows are padding
    /// (see the module docs). Returns the number of real rows, `indices.len()`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the buffers do not hold the same `B` rows or `indices`
    /// has more than `B`; [`Error::InvalidArgument`] for an index that is not a row (checked
    /// before anything is written); [`Error::NonFiniteFeature`] (row, column, value) for a
    /// feature that decodes to infinity in `T` (an `f64` beyond `f32`'s range; the buffers
    /// then hold the rows before it).
    pub fn fill_batch<T: Scalar, I: Copy + Into<usize>>(
        &self,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
        targets: Targets,
    ) -> Result<usize, Error> {
        let b = self.batch_rows(x, y, targets)?;
        if indices.len() > b {
            return Err(Error::LengthMismatch {
                expected: b,
                found: indices.len(),
            });
        }
        if indices.iter().any(|&i| i.into() >= self.len()) {
            return Err(Error::InvalidArgument);
        }
        self.write_rows(indices.iter().map(|&i| i.into()), x, y, targets)?;
        Ok(indices.len())
    }

    /// Like [`Dataset::fill_batch`] for the consecutive rows `start..start + B` (fewer at the
    /// end of the data, the rest padding): mini-batches without an index buffer, in storage
    /// order. Returns the number of real rows.
    ///
    /// ```
    /// use embedgrad_train::data::{Dataset, Table, Targets};
    /// let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
    /// let data = Dataset::new(Table::f32(&x, 2), &[0, 1, 1], 2)?;
    /// let (mut xb, mut yb) = ([0.0f32; 4], [0.0f32; 2]); // B = 2
    /// assert_eq!(data.fill_range(2, &mut xb, &mut yb, Targets::Labels)?, 1);
    /// assert_eq!((xb, yb), ([5.0, 6.0, 0.0, 0.0], [1.0, 2.0])); // one row, one padding row
    /// # Ok::<(), embedgrad_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Dataset::fill_batch`]; [`Error::InvalidArgument`] when `start` is not a row.
    pub fn fill_range<T: Scalar>(
        &self,
        start: usize,
        x: &mut [T],
        y: &mut [T],
        targets: Targets,
    ) -> Result<usize, Error> {
        let b = self.batch_rows(x, y, targets)?;
        if start >= self.len() {
            return Err(Error::InvalidArgument);
        }
        let end = self.len().min(start.saturating_add(b));
        self.write_rows(start..end, x, y, targets)?;
        Ok(end - start)
    }

    /// Writes the rows `rows` (all valid, at most the batch size) and pads the rest.
    fn write_rows<T: Scalar>(
        &self,
        rows: impl Iterator<Item = usize>,
        x: &mut [T],
        y: &mut [T],
        targets: Targets,
    ) -> Result<(), Error> {
        let (d, k) = (self.dim(), self.classes);
        let w = targets.width(k);
        let mut out = x.exact_rows_mut(d.max(1)).zip(y.exact_rows_mut(w.max(1)));
        for (i, (xr, yr)) in rows.zip(out.by_ref()) {
            self.x.row_into(i, xr)?;
            // Finite as stored (checked by `new`), but an `f64` beyond `f32`'s range, or a
            // byte with a huge scale, decodes to infinity in an `f32` graph.
            if let Some((col, v)) = xr.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::NonFiniteFeature {
                    row: i,
                    col,
                    value: v.to_f64(),
                });
            }
            let l = usize::from(self.label(i).ok_or(Error::InvalidArgument)?);
            match targets {
                Targets::OneHot => {
                    for (j, t) in yr.iter_mut().enumerate() {
                        *t = if j == l { T::ONE } else { T::ZERO };
                    }
                }
                Targets::Labels => yr.fill(T::from_usize(l)),
            }
        }
        for (xr, yr) in out {
            xr.fill(T::ZERO);
            match targets {
                Targets::OneHot => yr.fill(T::ZERO),
                Targets::Labels => yr.fill(T::from_usize(k)),
            }
        }
        Ok(())
    }

    /// [`Dataset::fill_batch`] into the buffers, then feeds them to the placeholders
    /// `feeds.x` and `feeds.y` (whose sizes the buffers must have). Returns the number of real
    /// rows.
    ///
    /// # Errors
    /// As [`Dataset::fill_batch`] and [`Graph::feed_slice`] (a buffer of the wrong size for
    /// its placeholder, non-finite decoded data).
    #[allow(clippy::too_many_arguments)]
    pub fn feed_batch<T: Scalar, O: Op<T>, const N: usize, const S: usize, I>(
        &self,
        g: &mut Graph<T, O, N, S>,
        feeds: Feeds,
        targets: Targets,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
    ) -> Result<usize, Error>
    where
        I: Copy + Into<usize>,
    {
        let n = self.fill_batch(indices, x, y, targets)?;
        g.feed_slice(feeds.x, x)?;
        g.feed_slice(feeds.y, y)?;
        Ok(n)
    }

    /// One epoch: the rows `indices`, in that order, in batches of `B` (the buffers' batch
    /// size; the last one padded), one [`minimize`] step per batch. Shuffle `indices` before
    /// each epoch with [`shuffle`]. Returns the sum of the batch losses (each computed before
    /// its update).
    ///
    /// For a per-step learning-rate schedule or gradient clipping, write the loop yourself:
    /// [`Dataset::feed_batch`], then [`Schedule::set`](crate::Schedule::set) and
    /// [`minimize`] or [`minimize_clipped`](crate::minimize_clipped), per chunk of indices.
    ///
    /// # Errors
    /// As [`Dataset::feed_batch`] and [`minimize`]; an error stops the epoch (the steps
    /// already taken stay, the failing step changes nothing).
    #[allow(clippy::too_many_arguments)]
    pub fn train_epoch<T: Scalar, O: Op<T>, const N: usize, const S: usize, I>(
        &self,
        opt: &mut impl Optimizer<T>,
        g: &mut Graph<T, O, N, S>,
        feeds: Feeds,
        targets: Targets,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
    ) -> Result<T, Error>
    where
        I: Copy + Into<usize>,
    {
        let b = self.batch_rows(x, y, targets)?;
        let loss = g.tensor::<1, 1>(feeds.loss)?;
        let mut total = T::ZERO;
        for chunk in indices.pieces(b) {
            self.feed_batch(g, feeds, targets, chunk, x, y)?;
            total += minimize(opt, g, loss)?;
        }
        Ok(total)
    }

    /// Evaluates the rows `indices` in batches: the summed loss, and how many rows have their
    /// label as the argmax of `scores` (`B × K`: logits or probabilities). Changes no
    /// variable and no gradient.
    ///
    /// # Errors
    /// As [`Dataset::feed_batch`] and [`Graph::run_many`]; [`Error::ShapeMismatch`] when
    /// `scores` is not `B × K`.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate<T: Scalar, O: Op<T>, const N: usize, const S: usize, I>(
        &self,
        g: &mut Graph<T, O, N, S>,
        feeds: Feeds,
        targets: Targets,
        scores: NodeId,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
    ) -> Result<Evaluation<T>, Error>
    where
        I: Copy + Into<usize>,
    {
        let b = self.batch_rows(x, y, targets)?;
        let shape = g.shape(scores)?;
        let want = embedgrad_core::Shape::new(b, self.classes);
        if shape != want {
            return Err(Error::ShapeMismatch {
                expected: want,
                found: shape,
            });
        }
        let loss: Tensor<1, 1> = g.tensor(feeds.loss)?;
        let mut ev = Evaluation {
            loss: T::ZERO,
            correct: 0,
            total: 0,
        };
        for chunk in indices.pieces(b) {
            self.feed_batch(g, feeds, targets, chunk, x, y)?;
            g.run_many(&[feeds.loss, scores])?;
            ev.loss += g.value(loss)?.data[0][0];
            let s = g.value_slice(scores)?;
            for (&i, row) in chunk.iter().zip(s.exact_rows(self.classes.max(1))) {
                if self.label(i.into()).map(usize::from) == Some(crate::argmax(row)) {
                    ev.correct += 1;
                }
            }
            ev.total += chunk.len();
        }
        Ok(ev)
    }

    /// A deterministic train/test split: fills `indices` (one per row) with `0..len`,
    /// shuffles them with `rng`, and returns `(train, test)` with the last `test` shuffled
    /// indices as the test part. The same seed gives the same split on every target.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] unless `indices` has one entry per row;
    /// [`Error::InvalidArgument`] when `test` exceeds the rows or a row number does not fit
    /// the index type.
    pub fn split<'i, I: Copy + TryFrom<usize>>(
        &self,
        rng: &mut SplitMix64,
        indices: &'i mut [I],
        test: usize,
    ) -> Result<(&'i mut [I], &'i mut [I]), Error> {
        if indices.len() != self.len() {
            return Err(Error::LengthMismatch {
                expected: self.len(),
                found: indices.len(),
            });
        }
        let cut = self.len().checked_sub(test).ok_or(Error::InvalidArgument)?;
        iota(indices)?;
        shuffle(rng, indices);
        indices
            .split_at_mut_checked(cut)
            .ok_or(Error::InvalidArgument)
    }
}

/// Fills `indices` with `0, 1, 2, …`.
///
/// # Errors
/// [`Error::InvalidArgument`] when a position does not fit the index type (more than 256
/// entries in a `[u8]`, 65,536 in a `[u16]`); entries before it are written.
pub fn iota<I: TryFrom<usize>>(indices: &mut [I]) -> Result<(), Error> {
    for (k, v) in indices.iter_mut().enumerate() {
        *v = I::try_from(k).map_err(|_| Error::InvalidArgument)?;
    }
    Ok(())
}

/// Shuffles `items` in place (Fisher–Yates, each of the `n!` orders equally likely) with
/// `rng`: call it on the train indices before every epoch. No allocation; the same generator
/// state gives the same order on every target.
///
/// ```
/// use embedgrad_train::{data::shuffle, SplitMix64};
/// let mut order = [0u16, 1, 2, 3, 4, 5, 6, 7];
/// shuffle(&mut SplitMix64::new(1), &mut order);
/// let mut sorted = order;
/// sorted.sort();
/// assert_eq!(sorted, [0, 1, 2, 3, 4, 5, 6, 7]);
/// ```
pub fn shuffle<I>(rng: &mut SplitMix64, items: &mut [I]) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        if j < i {
            if let Some((head, tail)) = items.split_at_mut_checked(i) {
                if let (Some(a), Some(b)) = (head.get_mut(j), tail.first_mut()) {
                    core::mem::swap(a, b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
