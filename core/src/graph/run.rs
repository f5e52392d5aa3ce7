//! Running a graph: evaluation (`Session.run`) and backprop, and the optimizers' view of the
//! variables.

use super::*;

impl<T: Scalar, O: Op<T>, const NODES: usize, const SCALARS: usize> Graph<T, O, NODES, SCALARS> {
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
