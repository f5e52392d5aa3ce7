//! A multilayer perceptron: a stack of dense layers as a `const` spec, built into a graph.

use super::*;

/// A multilayer perceptron: `inputs` input columns, then `L` dense layers, as a `const`.
///
/// The capacities come from the description alone ([`Mlp::capacity`],
/// [`Mlp::inference_capacity`]), so the graph is declared exactly before it is built; then
/// [`Mlp::build`] builds it and returns the [`Model`]'s handles.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mlp<const L: usize> {
    /// Input columns (`IN`).
    pub inputs: usize,
    /// The layers, first to last.
    pub layers: [DenseSpec; L],
}

impl<const L: usize> Mlp<L> {
    /// A network on `inputs` input columns.
    pub const fn new(inputs: usize, layers: [DenseSpec; L]) -> Self {
        Mlp { inputs, layers }
    }

    /// The input width of layer `k` (the output width of layer `k − 1`); the last layer's outputs past the
    /// end (the network's output width).
    pub const fn layer_inputs(&self, k: usize) -> usize {
        let mut width = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        let mut j = 0;
        while let [first, tail @ ..] = rest {
            if j == k {
                break;
            }
            width = first.outputs;
            rest = tail;
            j += 1;
        }
        width
    }

    /// Outputs of the last layer (`OUT`); `inputs` when there are no layers.
    pub const fn outputs(&self) -> usize {
        self.layer_inputs(L)
    }

    /// Trainable scalars of the whole network.
    pub const fn parameters(&self) -> usize {
        let mut p = 0;
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            p += s.parameters(inputs);
            inputs = s.outputs;
            rest = tail;
        }
        p
    }

    /// The exact capacity of the trainable model [`Mlp::build`] makes for batches of `batch`
    /// rows with `loss`: the input and target placeholders, every layer, the loss.
    pub const fn capacity(&self, batch: usize, loss: Loss) -> Capacity {
        let mut c = Capacity::placeholder(batch, self.inputs);
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            c = c.plus(dense_capacity(batch, inputs, s.outputs, s.activation));
            inputs = s.outputs;
            rest = tail;
        }
        c.plus(loss.capacity(batch, self.outputs()))
    }

    /// The exact capacity of the frozen model [`Mlp::build_inference`] makes: values only, no
    /// gradient (for a device that only predicts; `parameters` is 0).
    pub const fn inference_capacity(&self, batch: usize, loss: Loss) -> Capacity {
        let mut c = Capacity::placeholder(batch, self.inputs);
        let mut inputs = self.inputs;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            c = c.plus(frozen_dense_capacity(
                batch,
                inputs,
                s.outputs,
                s.activation,
            ));
            inputs = s.outputs;
            rest = tail;
        }
        // The targets' values and the loss's value, without a gradient.
        c.plus(Capacity::placeholder(
            batch,
            loss.target_width(self.outputs()),
        ))
        .plus(Capacity::placeholder(1, 1))
    }

    /// The module index of layer `k`'s `Linear` in the matching PyTorch `nn.Sequential`
    /// (activations are modules of their own there): `0, 2, 4, …` for layers with an
    /// activation.
    pub const fn torch_index(&self, k: usize) -> usize {
        let mut i = 0;
        let mut j = 0;
        let mut rest: &[DenseSpec] = &self.layers;
        while let [s, tail @ ..] = rest {
            if j == k {
                break;
            }
            i += s.torch_modules();
            rest = tail;
            j += 1;
        }
        i
    }

    /// Builds the model into `g` for batches of `B` rows: the input placeholder (`B × IN`),
    /// the target placeholder (see [`Loss::target_width`]), the layers (weights drawn from
    /// `rng` layer by layer, biases zero) and the loss.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when `IN` or `OUT` are not the description's input and output
    /// widths (nothing is built then); capacity errors when `g` is smaller than
    /// [`Mlp::capacity`] (the graph then holds the nodes built so far: [`Graph::clear`] it).
    pub fn build<
        T: Scalar,
        O: Op<T> + From<StdOp>,
        const N: usize,
        const S: usize,
        const B: usize,
        const IN: usize,
        const OUT: usize,
    >(
        &self,
        g: &mut Graph<T, O, N, S>,
        loss: Loss,
        rng: &mut SplitMix64,
    ) -> Result<Model<B, IN, OUT, L>, Error> {
        if IN != self.inputs || OUT != self.outputs() {
            return Err(Error::ShapeMismatch {
                expected: Shape::new(self.inputs, self.outputs()),
                found: Shape::new(IN, OUT),
            });
        }
        let x = g.placeholder::<B, IN>()?;
        let target = g.placeholder_dyn(Shape::new(B, loss.target_width(OUT)))?;
        let none = NodeId::new(0, 0);
        let mut layers = [Layer {
            weight: none,
            bias: none,
            inputs: 0,
            spec: DenseSpec::new(0, Activation::Identity),
            torch_index: 0,
        }; L];
        let mut h = x.id();
        for (k, (layer, spec)) in layers.iter_mut().zip(&self.layers).enumerate() {
            let inputs = self.layer_inputs(k);
            let (w, b) = dense_variables(g, inputs, spec.outputs, spec.init, rng)?;
            h = dense_ops(g, h, w, b, spec.activation)?;
            *layer = Layer {
                weight: w,
                bias: b,
                inputs,
                spec: *spec,
                torch_index: self.torch_index(k),
            };
        }
        let output: Tensor<B, OUT> = g.tensor(h)?;
        let l = match loss {
            Loss::SoftmaxCrossEntropy => g.softmax_cross_entropy(output, g.tensor(target)?)?,
            Loss::SparseSoftmaxCrossEntropy => {
                g.sparse_softmax_cross_entropy(output, g.tensor(target)?)?
            }
            Loss::SigmoidBinaryCrossEntropy => {
                g.sigmoid_binary_cross_entropy(output, g.tensor(target)?)?
            }
            Loss::MeanSquaredError => g.mse(output, g.tensor(target)?)?,
        };
        Ok(Model {
            x,
            target,
            output,
            loss: l,
            loss_kind: loss,
            layers,
        })
    }

    /// [`Mlp::build`], then every layer frozen: the graph holds values only, and needs
    /// [`Mlp::inference_capacity`] (unfreeze layers with [`Model::fine_tune`] to train again,
    /// which then needs the gradients' room too).
    ///
    /// # Errors
    /// As [`Mlp::build`].
    pub fn build_inference<
        T: Scalar,
        O: Op<T> + From<StdOp>,
        const N: usize,
        const S: usize,
        const B: usize,
        const IN: usize,
        const OUT: usize,
    >(
        &self,
        g: &mut Graph<T, O, N, S>,
        loss: Loss,
        rng: &mut SplitMix64,
    ) -> Result<Model<B, IN, OUT, L>, Error> {
        let m = self.build(g, loss, rng)?;
        m.fine_tune(g, FineTune::Nothing)?;
        Ok(m)
    }
}
