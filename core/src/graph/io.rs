//! Data in and out of a graph: feeding placeholders, assigning variables, reading values and
//! gradients.

use super::*;

impl<T: Scalar, O: Op<T>, const NODES: usize, const SCALARS: usize> Graph<T, O, NODES, SCALARS> {
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
        write_checked(&mut self.arena, n.value as usize, n.len(), data)
            .map_err(|e| e.at(Origin::Feed, id))?;
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
    /// use embedgrad_core::{Error, Graph, NoOp, Origin};
    /// let mut g: Graph<f32, NoOp, 2, 8> = Graph::new();
    /// let x = g.placeholder::<2, 2>()?;
    /// g.feed_with(x.id(), |v| v.iter_mut().zip(0..).for_each(|(d, i)| *d = i as f32))?;
    /// assert_eq!(g.value(x)?.data, [[0.0, 1.0], [2.0, 3.0]]);
    /// // A NaN is refused, and the placeholder is no longer fed.
    /// assert_eq!(
    ///     g.feed_with(x.id(), |v| v[3] = f32::NAN),
    ///     Err(Error::non_finite(Origin::Feed, x.id()))
    /// );
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
            Err(Error::non_finite(Origin::Feed, id))
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
            .map_err(|e| e.at(Origin::Assign, id))
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
        return Err(Error::non_finite_in(Origin::Feed));
    }
    let dst = arena
        .get_mut(start..start + len)
        .ok_or(Error::InvalidArgument)?;
    dst.copy_from(data);
    Ok(())
}
