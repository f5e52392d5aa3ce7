//! A built model: its layers, loss and placeholders, feeding, prediction, evaluation and
//! fine-tuning.

use super::*;
use embedgrad_core::nopanic::SliceExt as _;
use embedgrad_core::Origin;

/// One dense layer of a built [`Model`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layer {
    /// `W`, `inputs × outputs`.
    pub weight: NodeId,
    /// `b`, `1 × outputs`.
    pub bias: NodeId,
    /// Input columns.
    pub inputs: usize,
    /// Outputs, activation, initialiser.
    pub spec: DenseSpec,
    /// The `Linear`'s index in the matching PyTorch `nn.Sequential` (its state dict's names
    /// are `{torch_index}.weight` and `{torch_index}.bias`).
    pub torch_index: usize,
}

/// Which variables a [`Model`] trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FineTune {
    /// Every layer (the default after [`Mlp::build`]).
    All,
    /// The last layer only: the cheapest adaptation of a classifier's head.
    LastLayer,
    /// Every bias and nothing else (TinyTL's bias-only fine-tuning: no weight gradient, so no
    /// weight-gradient memory or work).
    BiasesOnly,
    /// Nothing (inference; what [`Mlp::build_inference`] sets).
    Nothing,
}

/// The handles of a model built by [`Mlp::build`]: input `x` (`B × IN`), targets, the last
/// layer's output (`B × OUT`: logits for the cross-entropy losses), the summed loss and the
/// layers.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Model<const B: usize, const IN: usize, const OUT: usize, const L: usize> {
    /// Inputs, `B × IN`.
    pub x: Tensor<B, IN>,
    /// Targets, `B × loss.target_width(OUT)`.
    pub target: NodeId,
    /// The last layer's output, `B × OUT`.
    pub output: Tensor<B, OUT>,
    /// The loss summed over the batch.
    pub loss: Tensor<1, 1>,
    /// Which loss.
    pub loss_kind: Loss,
    /// The layers, first to last.
    pub layers: [Layer; L],
}

impl<const B: usize, const IN: usize, const OUT: usize, const L: usize> Model<B, IN, OUT, L> {
    /// Input, target and loss nodes, for the data-set helpers ([`Dataset::train_epoch`],
    /// [`accumulate`](crate::accumulate), …).
    pub fn feeds(&self) -> Feeds {
        Feeds {
            x: self.x.id(),
            y: self.target,
            loss: self.loss.id(),
        }
    }

    /// Feeds a whole batch: inputs and one target row per input row (`OUT` wide; for
    /// [`Loss::SparseSoftmaxCrossEntropy`] use [`Model::feed_labels`]).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the targets are not `OUT` wide for this loss;
    /// [`Error::NonFinite`] for a non-finite value (nothing is fed then);
    /// [`Error::InvalidTarget`] as the loss ops check at run time.
    pub fn feed<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        x: &[[T; IN]; B],
        targets: &[[T; OUT]; B],
    ) -> Result<(), Error> {
        let want = self.loss_kind.target_width(OUT);
        if want != OUT {
            return Err(Error::LengthMismatch {
                expected: B * want,
                found: B * OUT,
            });
        }
        if targets.as_flattened().iter().any(|v| !v.is_finite()) {
            return Err(Error::non_finite(Origin::Feed, self.target));
        }
        g.feed_slice(self.x.id(), x.as_flattened())?;
        g.feed_slice(self.target, targets.as_flattened())
    }

    /// Feeds a whole batch with class labels (for [`Loss::SparseSoftmaxCrossEntropy`]).
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for another loss; [`Error::InvalidLabel`] for a label
    /// `≥ OUT` (with its row); [`Error::NonFinite`] for a non-finite input. Nothing is fed on
    /// an error.
    pub fn feed_labels<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        x: &[[T; IN]; B],
        labels: &[u8; B],
    ) -> Result<(), Error> {
        if self.loss_kind.target_width(OUT) != 1 {
            return Err(Error::LengthMismatch {
                expected: B * OUT,
                found: B,
            });
        }
        if let Some((row, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= OUT)
        {
            return Err(Error::InvalidLabel {
                row,
                label: f64::from(l),
                classes: OUT,
            });
        }
        if x.as_flattened().iter().any(|v| !v.is_finite()) {
            return Err(Error::non_finite(Origin::Feed, self.x.id()));
        }
        g.feed_slice(self.x.id(), x.as_flattened())?;
        g.feed_with(self.target, |y| {
            for (d, &l) in y.iter_mut().zip(labels) {
                *d = T::from_usize(l.into());
            }
        })
    }

    /// The outputs for up to `B` rows (a partial batch is padded with zero rows, whose outputs
    /// are not returned): writes one output row per input row into `out` and returns how many.
    /// Changes no variable.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for more than `B` rows or fewer output rows than input rows;
    /// [`Error::NonFinite`] for a non-finite input; graph errors (a graph sized for a step
    /// plan only has no room for the interpreter this runs).
    pub fn predict<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        rows: &[[T; IN]],
        out: &mut [[T; OUT]],
    ) -> Result<usize, Error> {
        if rows.len() > B || out.len() < rows.len() {
            return Err(Error::LengthMismatch {
                expected: rows.len().min(B),
                found: if rows.len() > B {
                    rows.len()
                } else {
                    out.len()
                },
            });
        }
        let flat = rows.as_flattened();
        g.feed_with(self.x.id(), |x| {
            x.fill(T::ZERO);
            for (d, &s) in x.iter_mut().zip(flat) {
                *d = s;
            }
        })?;
        g.run(self.output.id())?;
        let y = g.value_slice(self.output.id())?;
        for (o, row) in out
            .iter_mut()
            .zip(y.exact_rows(OUT.max(1)))
            .take(rows.len())
        {
            for (d, &s) in o.iter_mut().zip(row) {
                *d = s;
            }
        }
        Ok(rows.len())
    }

    /// The outputs for one row.
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn predict_row<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        row: &[T; IN],
    ) -> Result<[T; OUT], Error> {
        let mut out = [[T::ZERO; OUT]; 1];
        self.predict(g, core::slice::from_ref(row), &mut out)?;
        let [o] = out;
        Ok(o)
    }

    /// The class of one row: the index of its largest output (the first on ties).
    ///
    /// # Errors
    /// As [`Model::predict`].
    pub fn classify<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        row: &[T; IN],
    ) -> Result<usize, Error> {
        Ok(crate::argmax(&self.predict_row(g, row)?))
    }

    /// The summed loss and the correct predictions over the rows `indices` of a data set, in
    /// batches of `B` through the buffers `x` (`B · IN`) and `y` (`B ·` targets per row).
    /// Changes no variable.
    ///
    /// # Errors
    /// As [`Dataset::evaluate`].
    pub fn evaluate<T: Scalar, O: Op<T>, const N: usize, const S: usize, I>(
        &self,
        g: &mut Graph<T, O, N, S>,
        data: &Dataset<'_>,
        indices: &[I],
        x: &mut [T],
        y: &mut [T],
    ) -> Result<Evaluation<T>, Error>
    where
        I: Copy + Into<usize>,
    {
        data.evaluate(
            g,
            self.feeds(),
            self.loss_kind.targets(),
            self.output.id(),
            indices,
            x,
            y,
        )
    }

    /// Chooses what trains (see [`FineTune`]): freezes the other variables
    /// ([`Graph::set_trainable`]; frozen variables get no gradient, and nothing upstream of
    /// them computes one). Plan again after this if you train with a step plan.
    ///
    /// # Errors
    /// A bad handle (a model of another graph).
    pub fn fine_tune<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        mode: FineTune,
    ) -> Result<(), Error> {
        for (k, l) in self.layers.iter().enumerate() {
            let (w, b) = match mode {
                FineTune::All => (true, true),
                FineTune::LastLayer => (k + 1 == L, k + 1 == L),
                FineTune::BiasesOnly => (false, true),
                FineTune::Nothing => (false, false),
            };
            g.set_trainable(l.weight, w)?;
            g.set_trainable(l.bias, b)?;
        }
        Ok(())
    }

    /// Freezes or unfreezes one layer.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a layer index `≥ L`; a bad handle.
    pub fn set_trainable<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &mut Graph<T, O, N, S>,
        layer: usize,
        trainable: bool,
    ) -> Result<(), Error> {
        let l = self.layers.get(layer).ok_or(Error::InvalidArgument)?;
        g.set_trainable(l.weight, trainable)?;
        g.set_trainable(l.bias, trainable)
    }

    /// Trainable scalars now (after freezing).
    ///
    /// # Errors
    /// A bad handle.
    pub fn trainable_parameters<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &self,
        g: &Graph<T, O, N, S>,
    ) -> Result<usize, Error> {
        let mut p = 0;
        for l in &self.layers {
            for id in [l.weight, l.bias] {
                if g.is_trainable(id)? {
                    p += g.shape(id)?.checked_len()?;
                }
            }
        }
        Ok(p)
    }
}
