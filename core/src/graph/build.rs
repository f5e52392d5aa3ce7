//! Building a graph: placeholders, variables, constants and operations, and freezing.

use super::*;

impl<T: Scalar, O: Op<T>, const NODES: usize, const SCALARS: usize> Graph<T, O, NODES, SCALARS> {
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
                return Err(Error::non_finite_in(Origin::Assign));
            }
        }
        if self.nodes.len() >= NODES || self.nodes.len() > u16::MAX as usize {
            return Err(Error::NodeCapacity {
                capacity: NODES,
                needed: self.nodes.len().saturating_add(1),
            });
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
            // Partial: the fixed values up to this node; the op buffers are laid out later.
            return Err(Error::ScalarCapacity {
                needed: fixed,
                capacity: SCALARS,
                partial: true,
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
        self.nodes.push(node).map_err(|_| Error::NodeCapacity {
            capacity: NODES,
            needed: index.saturating_add(1),
        })?;
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
                        dst.copy_from(init);
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
    /// use embedgrad_core::{Error, Graph, NoOp, Origin, Shape};
    /// let mut g: Graph<f32, NoOp, 2, 8> = Graph::new();
    /// let w = g.variable_with(Shape::new(2, 3), |v| {
    ///     v.iter_mut().zip(0..).for_each(|(d, i)| *d = i as f32)
    /// })?;
    /// assert_eq!(g.value_slice(w)?, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    /// // A non-finite value is refused and the graph is left as it was.
    /// let r = g.variable_with(Shape::new(1, 1), |v| v[0] = f32::NAN);
    /// assert_eq!(r, Err(Error::non_finite_in(Origin::Assign)));
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
        Err(Error::non_finite_in(Origin::Assign))
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
}
