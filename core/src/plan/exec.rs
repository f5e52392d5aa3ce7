//! Running a plan: the forward pass, and the backward sweep with updates as gradients become
//! final.

use super::{kernels, Step, StepKind, NONE};
use crate::graph::{split, variable_views, Layout, Node, UNPLACED};
use crate::{
    Error, Graph, MatMut, NodeId, NodeKind, Op, Origin, Scalar, Shape, Tensor, VariableMut,
};

impl<T: Scalar, O: Op<T>, const N: usize, const S: usize> Graph<T, O, N, S> {
    /// Puts the plan's offsets into the node table (after the interpreter used the arena).
    pub(crate) fn install_plan(&mut self) {
        for (n, s) in self.nodes.iter_mut().zip(self.plan.slots.iter()) {
            if !n.is_persistent() {
                n.value = s.value;
                n.kept = false;
            }
            n.grad = s.grad;
            n.reached = false;
        }
        self.used = self.plan.scalars;
        self.layout = Layout::Planned;
    }

    /// Whether the plan's forward pass computes and keeps every target.
    pub(crate) fn plan_covers(&self, targets: &[NodeId]) -> Result<bool, Error> {
        let fwd_end = self.plan.steps.len().saturating_sub(1) as u16;
        for t in targets {
            let i = self.index(*t)?;
            let (Some(n), Some(s)) = (self.nodes.get(i), self.plan.slots.get(i)) else {
                return Ok(false);
            };
            if !n.is_persistent() && (s.value == UNPLACED || s.v_end < fwd_end) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn node_shape(&self, j: u16) -> Result<(u32, u32, Shape), Error> {
        let n = self.nodes.get(j as usize).ok_or(Error::InvalidArgument)?;
        Ok((n.value, n.grad, n.shape()))
    }

    /// Runs the plan's forward pass; returns the loss.
    pub(crate) fn planned_forward(&mut self) -> Result<T, Error> {
        if self.layout != Layout::Planned {
            self.install_plan();
        }
        for st in self.plan.steps.iter() {
            for j in self.step_inputs(st) {
                if let Some(n) = self.nodes.get(j as usize) {
                    if matches!(n.kind, NodeKind::Placeholder) && !n.fed {
                        return Err(Error::MissingFeed(self.id_of(j as usize)));
                    }
                }
            }
        }
        for i in 0..self.plan.steps.len() {
            let Some(st) = self.plan.steps.get(i).copied() else {
                continue;
            };
            self.forward_step(&st)?;
            self.stats.forward_ops = self.stats.forward_ops.wrapping_add(1);
        }
        let fwd_end = self.plan.steps.len().saturating_sub(1) as u16;
        for (n, s) in self.nodes.iter_mut().zip(self.plan.slots.iter()) {
            if !n.is_persistent() {
                n.kept = n.value != UNPLACED && s.v_end >= fwd_end;
            }
        }
        let loss = self
            .nodes
            .get(self.plan.loss as usize)
            .ok_or(Error::InvalidArgument)?;
        Ok(self
            .arena
            .get(loss.value as usize)
            .copied()
            .unwrap_or(T::ZERO))
    }

    /// Op node `k` and its op.
    fn op_node(&self, k: u16) -> Result<(Node<O>, O), Error> {
        let n = *self.nodes.get(k as usize).ok_or(Error::InvalidArgument)?;
        match n.kind {
            NodeKind::Op(op) => Ok((n, op)),
            _ => Err(Error::InvalidArgument),
        }
    }

    fn forward_step(&mut self, st: &Step) -> Result<(), Error> {
        let (out, _, out_shape) = self.node_shape(st.node)?;
        match st.kind {
            StepKind::Op => {
                let (n, op) = self.op_node(st.node)?;
                self.op_forward(&op, &n)?;
            }
            StepKind::Dense(act) => {
                let (xv, _, xs) = self.node_shape(st.x)?;
                let (wv, _, ws) = self.node_shape(st.w)?;
                let bias = if st.b == NONE {
                    None
                } else {
                    Some(self.node_shape(st.b)?)
                };
                let (reader, dst) = split(&mut self.arena, out, out_shape.rows * out_shape.cols)?;
                let x = reader.view(xv as usize, xs)?;
                let w = reader.view(wv as usize, ws)?;
                let b = match bias {
                    Some((bv, _, bs)) => Some(reader.view(bv as usize, bs)?),
                    None => None,
                };
                let dst = MatMut::new(dst, out_shape).ok_or(Error::InvalidArgument)?;
                kernels::dense_forward(x, w, b, act, dst);
            }
            StepKind::Loss => {
                let (zv, _, zs) = self.node_shape(st.x)?;
                let (cv, _, cs) = self.node_shape(st.w)?;
                let l = {
                    let (reader, p) = split(&mut self.arena, st.aux, zs.rows * zs.cols)?;
                    let z = reader.view(zv as usize, zs)?;
                    let c = reader.view(cv as usize, cs)?;
                    let p = MatMut::new(p, zs).ok_or(Error::InvalidArgument)?;
                    kernels::softmax_xent_forward(z, c, p)
                };
                if let Some(o) = self.arena.get_mut(out as usize) {
                    *o = l;
                }
            }
        }
        Ok(())
    }

    /// One planned training step for `loss`: the plan's forward pass, then — when the loss
    /// is finite — the backward sweep, calling `update` for each trainable variable as soon as
    /// its gradient is final (the optimizers of `embedgrad-train` do this for you). With an
    /// accumulating plan the gradients are added to the variables' accumulators instead and
    /// `update` is not called. Returns the loss computed before any update.
    ///
    /// A variable is updated before the gradients of variables further from the loss are
    /// computed: when `update` fails (a non-finite gradient, an update that would overflow),
    /// the step stops there and the variables already updated in this sweep — those nearer
    /// the loss — keep their update, the others are unchanged.
    ///
    /// # Errors
    /// [`Error::NotPlanned`] unless the installed plan is for `loss`; [`Error::MissingFeed`];
    /// [`Error::NonFinite`] for a non-finite loss (nothing changes); whatever `update` returns.
    pub fn step(
        &mut self,
        loss: Tensor<1, 1>,
        mut update: impl FnMut(VariableMut<'_, T>) -> Result<(), Error>,
    ) -> Result<T, Error> {
        let li = self.index(loss.id())?;
        let Some(fns) = self.plan_fns else {
            return Err(Error::NotPlanned(loss.id()));
        };
        if !self.plan.is_active() || self.plan.loss as usize != li {
            return Err(Error::NotPlanned(loss.id()));
        }
        (fns.step)(self, &mut update)
    }

    /// The body of [`Graph::step`], reached through the plan's entry points.
    pub(crate) fn step_impl(
        &mut self,
        update: &mut dyn FnMut(VariableMut<'_, T>) -> Result<(), Error>,
    ) -> Result<T, Error> {
        let li = self.plan.loss as usize;
        let l = self.planned_forward()?;
        if !l.is_finite() {
            return Err(Error::non_finite(Origin::Loss, self.id_of(li)));
        }
        let Some(ln) = self.nodes.get(li).copied() else {
            return Err(Error::InvalidArgument);
        };
        if ln.grad != UNPLACED {
            if let Some(g) = self.arena.get_mut(ln.grad as usize) {
                *g = T::ONE;
            }
        }
        let accumulate = self.plan.accumulate;
        for n in self.nodes.iter_mut() {
            n.reached = n.grad != UNPLACED && n.needs_grad;
        }
        for i in (0..self.plan.steps.len()).rev() {
            let Some(st) = self.plan.steps.get(i).copied() else {
                continue;
            };
            if !st.back {
                continue;
            }
            self.backward_step(&st)?;
            if accumulate {
                continue;
            }
            for &v in st.fin.iter().filter(|&&v| v != NONE) {
                let Some(n) = self.nodes.get(v as usize) else {
                    continue;
                };
                let Some(s) = self.plan.slots.get(v as usize) else {
                    continue;
                };
                let (offset, len) = (s.var_offset as usize, n.len());
                let id = self.id_of(v as usize);
                let (value, grad) = variable_views(&mut self.arena, n.value, n.grad, len);
                update(VariableMut {
                    id,
                    offset,
                    value,
                    grad,
                    reached: true,
                })?;
            }
        }
        let end = self.plan.end();
        for (n, s) in self.nodes.iter_mut().zip(self.plan.slots.iter()) {
            if !n.is_persistent() {
                n.kept = n.value != UNPLACED && s.v_end >= end;
            }
        }
        Ok(l)
    }

    fn zero_range(&mut self, off: u32, len: usize) {
        let o = off as usize;
        if let Some(s) = self.arena.get_mut(o..o + len) {
            s.fill(T::ZERO);
        }
    }

    fn backward_step(&mut self, st: &Step) -> Result<(), Error> {
        let (yv, yg, ys) = self.node_shape(st.node)?;
        let count = |g: &mut Self| g.stats.backward_ops = g.stats.backward_ops.wrapping_add(1);
        match st.kind {
            StepKind::Op => {
                let (n, op) = self.op_node(st.node)?;
                for (i, &j) in n.input_ids().iter().enumerate() {
                    let m = *self.nodes.get(j as usize).ok_or(Error::InvalidArgument)?;
                    if !m.needs_grad || m.grad == UNPLACED {
                        continue;
                    }
                    if st.first & (1 << i) != 0 {
                        self.zero_range(m.grad, m.len());
                    }
                    self.op_backward(&op, &n, i, &m)?;
                    count(self);
                }
            }
            StepKind::Dense(act) => {
                let len = ys.rows * ys.cols;
                if act != crate::Activation::Identity {
                    let (reader, g) = split(&mut self.arena, yg, len)?;
                    let y = reader.view(yv as usize, ys)?;
                    kernels::activation_backward(act, y.as_slice(), g);
                    count(self);
                }
                let (xv, xg, xs) = self.node_shape(st.x)?;
                let (wv, wg, ws) = self.node_shape(st.w)?;
                let needs = |g: &Self, j: u16| {
                    g.nodes
                        .get(j as usize)
                        .is_some_and(|n| n.needs_grad && n.grad != UNPLACED)
                };
                if needs(self, st.x) {
                    let (reader, dx) = split(&mut self.arena, xg, xs.rows * xs.cols)?;
                    let g = reader.view(yg as usize, ys)?;
                    let w = reader.view(wv as usize, ws)?;
                    let dx = MatMut::new(dx, xs).ok_or(Error::InvalidArgument)?;
                    kernels::matmul_grad_a(g, w, dx, st.first & 1 != 0);
                    count(self);
                }
                if needs(self, st.w) {
                    let (reader, dw) = split(&mut self.arena, wg, ws.rows * ws.cols)?;
                    let g = reader.view(yg as usize, ys)?;
                    let x = reader.view(xv as usize, xs)?;
                    let dw = MatMut::new(dw, ws).ok_or(Error::InvalidArgument)?;
                    kernels::matmul_grad_b(x, g, dw, st.first & 2 != 0);
                    count(self);
                }
                if st.b != NONE && needs(self, st.b) {
                    let (_, bg, bs) = self.node_shape(st.b)?;
                    let (reader, db) = split(&mut self.arena, bg, bs.rows * bs.cols)?;
                    let g = reader.view(yg as usize, ys)?;
                    kernels::column_sums(g, db, st.first & 4 != 0);
                    count(self);
                }
            }
            StepKind::Loss => {
                let g = self.arena.get(yg as usize).copied().unwrap_or(T::ONE);
                let (_, zg, zs) = self.node_shape(st.x)?;
                let (cv, _, cs) = self.node_shape(st.w)?;
                let len = zs.rows * zs.cols;
                if zg == st.aux {
                    let (reader, p) = split(&mut self.arena, st.aux, len)?;
                    let c = reader.view(cv as usize, cs)?;
                    kernels::softmax_xent_backward(g, c, p, zs.cols);
                } else if zg != UNPLACED {
                    let (reader, dz) = split(&mut self.arena, zg, len)?;
                    let c = reader.view(cv as usize, cs)?;
                    let p = reader.view(st.aux as usize, zs)?;
                    kernels::softmax_xent_backward_into(
                        g,
                        c,
                        p.as_slice(),
                        dz,
                        zs.cols,
                        st.first & 1 != 0,
                    );
                }
                count(self);
            }
        }
        Ok(())
    }
}
