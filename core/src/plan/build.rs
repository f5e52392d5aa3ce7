//! Making a plan: fusion patterns, lifetimes, placement.

use super::{
    BufferKind, PlanBuffer, PlanOptions, PlanSummary, PlanTable, Slot, Step, StepInfo, StepKind,
    NONE,
};
use crate::graph::{Layout, UNPLACED};
use crate::{Activation, Error, Graph, NodeId, NodeKind, Op, OpClass, ReduceAxis, Scalar, Tensor};

/// A buffer to place: `len` scalars live during `[start, end]`.
#[derive(Clone, Copy, Debug)]
struct Buf {
    len: usize,
    start: u16,
    end: u16,
    off: usize,
    placed: bool,
    /// The node (value or gradient) or the step (probabilities).
    of: u16,
}

/// An activation the dense layer can fuse: its derivative must follow from the output.
fn fusable(act: Activation) -> bool {
    match act {
        Activation::LeakyRelu(slope) => slope >= 0.0,
        _ => true,
    }
}

impl<T: Scalar, O: Op<T>, const N: usize, const S: usize> Graph<T, O, N, S> {
    /// Plans the training step for `loss` (see the [`plan`](crate::plan) module): fusion,
    /// pruning, a liveness-based memory plan and updates in the backward sweep. Afterwards
    /// [`Graph::step`] runs planned steps, [`Graph::requirements`] reports the planned need
    /// and `run` of the loss or of a kept node runs the plan's forward pass.
    ///
    /// The plan stays valid while the graph's structure does; adding a node or freezing a
    /// variable discards it (plan again). Planning twice replaces the plan.
    ///
    /// # Errors
    /// Bad handles; [`Error::NotScalar`] unless the loss is 1×1; [`Error::ScalarCapacity`]
    /// when the planned step does not fit `SCALARS` (with the planned need), in which case
    /// the graph is unchanged.
    pub fn plan(
        &mut self,
        loss: Tensor<1, 1>,
        opts: PlanOptions<'_>,
    ) -> Result<PlanSummary, Error> {
        self.plan_dyn(loss.id(), opts)
    }

    /// [`Graph::plan`] for an untyped loss handle.
    ///
    /// # Errors
    /// As [`Graph::plan`].
    pub fn plan_dyn(&mut self, loss: NodeId, opts: PlanOptions<'_>) -> Result<PlanSummary, Error> {
        let li = self.index(loss)?;
        let ln = *self.nodes.get(li).ok_or(Error::UnknownNode(loss))?;
        if ln.shape() != crate::Shape::new(1, 1) {
            return Err(Error::NotScalar(ln.shape()));
        }
        let mut keep = [false; N];
        for k in opts.keep {
            let i = self.index(*k)?;
            if let Some(f) = keep.get_mut(i) {
                *f = true;
            }
        }
        // The loss's ancestors (what backward sweeps), then also the kept nodes' (what
        // forward computes).
        self.mark_ancestors(&[loss])?;
        let mut lmark = [false; N];
        for (m, n) in lmark.iter_mut().zip(self.nodes.iter()) {
            *m = n.mark;
        }
        let top =
            self.mark_ancestors_of(core::iter::once(loss).chain(opts.keep.iter().copied()))?;
        // Uses of each node by the marked ops.
        let mut uses = [0u16; N];
        for n in self.nodes.iter().take(top + 1) {
            if n.mark && matches!(n.kind, NodeKind::Op(_)) {
                for &j in n.input_ids() {
                    if let Some(u) = uses.get_mut(j as usize) {
                        *u = u.saturating_add(1);
                    }
                }
            }
        }

        // ----- steps (fusion) -----
        let mut steps: heapless::Vec<Step, N> = heapless::Vec::new();
        let mut absorbed = [false; N];
        let (mut dense, mut losses) = (0, 0);
        for k in 0..=top {
            let Some(n) = self.nodes.get(k).copied() else {
                continue;
            };
            if !n.mark || absorbed.get(k).copied().unwrap_or(true) {
                continue;
            }
            let NodeKind::Op(_) = n.kind else { continue };
            let fused = if opts.fuse {
                self.fuse_dense(k, &uses, &keep)
                    .or_else(|| self.fuse_loss(k, &uses, &keep))
            } else {
                None
            };
            let step = match fused {
                Some((step, parts)) => {
                    for &p in parts.iter().filter(|&&p| p != NONE) {
                        if let Some(a) = absorbed.get_mut(p as usize) {
                            *a = true;
                        }
                    }
                    match step.kind {
                        StepKind::Dense(_) => dense += 1,
                        StepKind::Loss => losses += 1,
                        StepKind::Op => {}
                    }
                    step
                }
                None => Step::new(StepKind::Op, k as u16),
            };
            steps.push(step).map_err(|_| table_full::<N>())?;
        }
        let n_steps = steps.len();
        let end = (2 * n_steps) as u16;
        let bwd = |i: usize| (2 * n_steps - 1 - i) as u16;
        let needs = |g: &Self, j: u16| {
            g.nodes
                .get(j as usize)
                .is_some_and(|m| m.needs_grad && m.mark)
        };
        for st in steps.iter_mut() {
            let on_path = lmark.get(st.node as usize).copied().unwrap_or(false);
            st.back = on_path
                && match st.kind {
                    StepKind::Loss => needs(self, st.x),
                    _ => needs(self, st.node),
                };
        }

        // ----- lifetimes -----
        let mut slots: heapless::Vec<Slot, N> = heapless::Vec::new();
        let mut var_offset = 0u32;
        for n in self.nodes.iter() {
            let mut s = Slot::EMPTY;
            if n.is_persistent() {
                s.value = n.value;
                s.v_end = end;
                if matches!(n.kind, NodeKind::Variable) {
                    // Optimizer state is laid out over the trainable variables only.
                    s.var_offset = var_offset;
                    if !n.frozen {
                        var_offset = var_offset.saturating_add(n.len() as u32);
                    }
                }
            }
            slots.push(s).map_err(|_| table_full::<N>())?;
        }
        let mut vals: heapless::Vec<Buf, N> = heapless::Vec::new();
        let mut grads: heapless::Vec<Buf, N> = heapless::Vec::new();
        let mut auxs: heapless::Vec<Buf, N> = heapless::Vec::new();
        // Values of step outputs.
        for (i, st) in steps.iter().enumerate() {
            let q = st.node;
            let Some(n) = self.nodes.get(q as usize) else {
                continue;
            };
            let mut v_end = i as u16;
            if q as usize == li || keep.get(q as usize).copied().unwrap_or(false) {
                v_end = end;
            }
            let own_read = match st.kind {
                StepKind::Op => true,
                StepKind::Dense(act) => act != Activation::Identity,
                StepKind::Loss => false,
            };
            if st.back && own_read {
                v_end = v_end.max(bwd(i));
            }
            for (j, later) in steps.iter().enumerate().skip(i + 1) {
                for (slot, input) in self.step_inputs(later).into_iter().enumerate() {
                    if input != q {
                        continue;
                    }
                    v_end = v_end.max(j as u16);
                    if self.reads_value(later, slot) {
                        v_end = v_end.max(bwd(j));
                    }
                }
            }
            vals.push(Buf {
                len: n.len(),
                start: i as u16,
                end: v_end,
                off: 0,
                placed: false,
                of: q,
            })
            .map_err(|_| table_full::<N>())?;
        }
        // Gradients: of step outputs and trainable variables on the loss's path.
        let mut owner = [NONE; N];
        for (i, st) in steps.iter().enumerate() {
            if let Some(o) = owner.get_mut(st.node as usize) {
                *o = i as u16;
            }
        }
        let mut alias_z = [false; N]; // per step: the logits' gradient lives in `p`
        for q in 0..self.nodes.len() {
            let Some(n) = self.nodes.get(q).copied() else {
                continue;
            };
            if !n.needs_grad || !lmark.get(q).copied().unwrap_or(false) {
                continue;
            }
            let own = owner.get(q).copied().unwrap_or(NONE);
            let is_var = matches!(n.kind, NodeKind::Variable);
            if own == NONE && !is_var {
                continue; // fused away: no buffer
            }
            let mut writers = 0usize;
            let (mut last, mut first) = (0usize, usize::MAX);
            let mut first_slot = 0usize;
            for (j, st) in steps.iter().enumerate() {
                let mut counted = false;
                for (slot, input) in self.step_inputs(st).into_iter().enumerate() {
                    if input as usize == q && self.writes_grad(st, slot) && !counted {
                        counted = true;
                        writers += 1;
                        if j >= last {
                            last = j;
                            first_slot = slot;
                        }
                        first = first.min(j);
                    }
                }
            }
            let is_loss = q == li;
            if writers == 0 && !is_loss {
                continue;
            }
            let (start, g_end) = if is_var && opts.accumulate {
                (0, end)
            } else if is_var {
                (bwd(last), bwd(first))
            } else {
                let own_bwd = bwd(own as usize);
                let start = if is_loss { n_steps as u16 } else { bwd(last) };
                (start, own_bwd)
            };
            if writers > 0 && !(is_var && opts.accumulate) {
                if let Some(st) = steps.get_mut(last) {
                    st.first |= 1 << first_slot;
                }
            }
            if is_var && !opts.accumulate {
                if let Some(st) = steps.get_mut(first) {
                    if let Some(f) = st.fin.iter_mut().find(|f| **f == NONE) {
                        *f = q as u16;
                    }
                }
            }
            // The logits of a fused loss that only it differentiates: their gradient is
            // computed in place of `p`.
            let sole_loss = writers == 1
                && steps.get(last).is_some_and(|st| {
                    st.kind == StepKind::Loss
                        && st.x as usize == q
                        && (st.b == NONE || !keep.get(st.b as usize).copied().unwrap_or(false))
                });
            if sole_loss {
                if let Some(a) = alias_z.get_mut(last) {
                    *a = true;
                }
                if let Some(st) = steps.get_mut(last) {
                    st.aux_end = g_end;
                }
                if let Some(s) = slots.get_mut(q) {
                    s.g_start = start;
                    s.g_end = g_end;
                }
                continue;
            }
            grads
                .push(Buf {
                    len: n.len(),
                    start,
                    end: g_end,
                    off: 0,
                    placed: false,
                    of: q as u16,
                })
                .map_err(|_| table_full::<N>())?;
        }
        // A fused loss's probabilities.
        for (i, st) in steps.iter_mut().enumerate() {
            if st.kind != StepKind::Loss {
                continue;
            }
            let len = self.nodes.get(st.x as usize).map_or(0, |n| n.len());
            let mut a_end = st.aux_end.max(bwd(i));
            if st.b != NONE && keep.get(st.b as usize).copied().unwrap_or(false) {
                a_end = end;
            }
            st.aux_start = i as u16;
            st.aux_end = a_end;
            auxs.push(Buf {
                len,
                start: i as u16,
                end: a_end,
                off: 0,
                placed: false,
                of: i as u16,
            })
            .map_err(|_| table_full::<N>())?;
        }

        // ----- placement: largest first, lowest offset free during its lifetime -----
        let total = vals.len() + grads.len() + auxs.len();
        let mut region = 0usize;
        for _ in 0..total {
            let mut best: Option<(usize, usize)> = None; // (list, index)
            let mut best_key = (0usize, u16::MAX);
            for (l, list) in [&vals, &grads, &auxs].into_iter().enumerate() {
                for (i, b) in list.iter().enumerate() {
                    let key = (b.len, u16::MAX - b.start);
                    if !b.placed && (best.is_none() || key > best_key) {
                        best = Some((l, i));
                        best_key = key;
                    }
                }
            }
            let Some((l, i)) = best else { break };
            let Some(b) = [&vals, &grads, &auxs]
                .get(l)
                .and_then(|list| list.get(i))
                .copied()
            else {
                break;
            };
            let mut off = 0usize;
            loop {
                let mut moved = false;
                for list in [&vals, &grads, &auxs] {
                    for p in list.iter().filter(|p| p.placed) {
                        let in_time = p.start <= b.end && b.start <= p.end;
                        let in_mem = p.off < off + b.len && off < p.off + p.len;
                        if in_time && in_mem {
                            off = p.off + p.len;
                            moved = true;
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
            region = region.max(off + b.len);
            let list = match l {
                0 => &mut vals,
                1 => &mut grads,
                _ => &mut auxs,
            };
            if let Some(p) = list.get_mut(i) {
                p.off = off;
                p.placed = true;
            }
        }
        let scalars = self.fixed.saturating_add(region);
        if scalars > S || scalars >= UNPLACED as usize {
            return Err(Error::ScalarCapacity {
                needed: scalars,
                capacity: S,
                partial: false,
            });
        }

        // ----- commit -----
        let base = self.fixed;
        for b in vals.iter() {
            if let Some(s) = slots.get_mut(b.of as usize) {
                s.value = (base + b.off) as u32;
                s.v_start = b.start;
                s.v_end = b.end;
            }
        }
        for b in grads.iter() {
            if let Some(s) = slots.get_mut(b.of as usize) {
                s.grad = (base + b.off) as u32;
                s.g_start = b.start;
                s.g_end = b.end;
            }
        }
        for b in auxs.iter() {
            let Some(st) = steps.get_mut(b.of as usize) else {
                continue;
            };
            st.aux = (base + b.off) as u32;
            if st.b != NONE {
                if let Some(s) = slots.get_mut(st.b as usize) {
                    s.value = st.aux;
                    s.v_start = b.start;
                    s.v_end = b.end;
                }
            }
            if alias_z.get(b.of as usize).copied().unwrap_or(false) {
                if let Some(s) = slots.get_mut(st.x as usize) {
                    s.grad = st.aux;
                }
            }
        }
        let unplanned = self.requirements().unplanned_scalars;
        self.plan = PlanTable {
            steps,
            slots,
            loss: li as u16,
            active: true,
            accumulate: opts.accumulate,
            scalars,
        };
        self.plan_fns = Some(super::PlanFns {
            forward: Self::planned_forward,
            step: Self::step_impl,
        });
        self.install_plan();
        if opts.accumulate {
            self.zero_grads();
        }
        Ok(PlanSummary {
            steps: n_steps,
            dense,
            losses,
            buffers: total,
            region,
            scalars,
            unplanned_scalars: unplanned,
        })
    }

    /// Drops the plan: the interpreter runs everything again (see [`Graph::plan`]).
    pub fn unplan(&mut self) {
        if self.layout == Layout::Planned {
            self.invalidate(); // the plan's layout goes with it
        } else {
            self.plan.clear(); // the interpreter's layout stays
        }
    }

    /// Whether a plan is installed, and for which loss.
    pub fn planned_loss(&self) -> Option<NodeId> {
        self.plan
            .is_active()
            .then(|| self.id_of(self.plan.loss as usize))
    }

    /// Whether the installed plan accumulates gradients (see [`PlanOptions::accumulate`]).
    pub fn plan_accumulates(&self) -> bool {
        self.plan.is_active() && self.plan.accumulate
    }

    /// Calls `f` for each step of the installed plan, in forward order.
    pub fn plan_steps(&self, mut f: impl FnMut(StepInfo)) {
        for st in self.plan.steps.iter() {
            let node = self.id_of(st.node as usize);
            f(match st.kind {
                StepKind::Op => StepInfo::Op {
                    node,
                    name: match self.nodes.get(st.node as usize).map(|n| n.kind) {
                        Some(NodeKind::Op(op)) => op.name(),
                        _ => "",
                    },
                },
                StepKind::Dense(act) => StepInfo::Dense { node, act },
                StepKind::Loss => StepInfo::Loss { node },
            });
        }
    }

    /// Calls `f` for each buffer of the installed plan (offsets relative to the shared
    /// region, which starts after the fixed values).
    pub fn plan_buffers(&self, mut f: impl FnMut(PlanBuffer)) {
        let base = self.fixed;
        let rel = |o: u32| (o as usize).saturating_sub(base);
        for (k, (s, n)) in self.plan.slots.iter().zip(self.nodes.iter()).enumerate() {
            let node = self.id_of(k);
            let probs = self
                .plan
                .steps
                .iter()
                .any(|st| st.kind == StepKind::Loss && st.b as usize == k);
            if !n.is_persistent() && s.value != UNPLACED && !probs {
                f(PlanBuffer {
                    node,
                    kind: BufferKind::Value,
                    len: n.len(),
                    offset: rel(s.value),
                    start: s.v_start as usize,
                    end: s.v_end as usize,
                });
            }
            let aliased = self
                .plan
                .steps
                .iter()
                .any(|st| st.kind == StepKind::Loss && st.x as usize == k && st.aux == s.grad);
            if s.grad != UNPLACED && !aliased {
                f(PlanBuffer {
                    node,
                    kind: BufferKind::Grad,
                    len: n.len(),
                    offset: rel(s.grad),
                    start: s.g_start as usize,
                    end: s.g_end as usize,
                });
            }
        }
        for st in self
            .plan
            .steps
            .iter()
            .filter(|st| st.kind == StepKind::Loss)
        {
            let len = self.nodes.get(st.x as usize).map_or(0, |n| n.len());
            f(PlanBuffer {
                node: self.id_of(if st.b != NONE { st.b } else { st.node } as usize),
                kind: BufferKind::Probs,
                len,
                offset: rel(st.aux),
                start: st.aux_start as usize,
                end: st.aux_end as usize,
            });
        }
    }

    // ----- pattern matching -----

    fn class_of(&self, k: usize) -> OpClass {
        match self.nodes.get(k).map(|n| n.kind) {
            Some(NodeKind::Op(op)) => op.class(),
            _ => OpClass::Other,
        }
    }

    fn input(&self, k: usize, i: usize) -> u16 {
        self.nodes
            .get(k)
            .and_then(|n| n.input_ids().get(i).copied())
            .unwrap_or(NONE)
    }

    /// The one marked op that uses node `k` (once), if there is exactly one use.
    fn sole_consumer(&self, k: usize, uses: &[u16; N]) -> Option<usize> {
        if uses.get(k).copied() != Some(1) {
            return None;
        }
        self.nodes
            .iter()
            .enumerate()
            .skip(k + 1)
            .find(|(_, n)| n.mark && n.input_ids().contains(&(k as u16)))
            .map(|(j, _)| j)
    }

    /// `act(matmul(x, w) + b)` starting at the matmul `k`.
    fn fuse_dense(&self, k: usize, uses: &[u16; N], keep: &[bool; N]) -> Option<(Step, [u16; 6])> {
        if self.class_of(k) != OpClass::MatMul || keep.get(k).copied().unwrap_or(true) {
            return None;
        }
        let a = self.sole_consumer(k, uses)?;
        if self.class_of(a) != OpClass::Add || self.input(a, 0) as usize != k {
            return None;
        }
        let bias = self.input(a, 1);
        let mm = self.nodes.get(k)?;
        let bn = self.nodes.get(bias as usize)?;
        if bn.shape() != crate::Shape::new(1, mm.shape().cols) || bias as usize == k {
            return None;
        }
        let (last, act) = match self.sole_consumer(a, uses) {
            Some(f) if !keep.get(a).copied().unwrap_or(true) => match self.class_of(f) {
                OpClass::Activation(act) if fusable(act) => (f, act),
                _ => (a, Activation::Identity),
            },
            _ => (a, Activation::Identity),
        };
        let step = Step {
            x: self.input(k, 0),
            w: self.input(k, 1),
            b: bias,
            ..Step::new(StepKind::Dense(act), last as u16)
        };
        let mut parts = [NONE; 6];
        parts[0] = k as u16;
        parts[1] = a as u16;
        parts[2] = last as u16;
        Some((step, parts))
    }

    /// The tutorial's `−Σ c ⊙ log softmax(z)` starting at the softmax `k`, or a
    /// `softmax_cross_entropy` op at `k`.
    fn fuse_loss(&self, k: usize, uses: &[u16; N], keep: &[bool; N]) -> Option<(Step, [u16; 6])> {
        let kept = |j: usize| keep.get(j).copied().unwrap_or(true);
        let no_grad = |j: u16| self.nodes.get(j as usize).is_some_and(|n| !n.needs_grad);
        let mut step = Step {
            x: self.input(k, 0),
            ..Step::new(StepKind::Loss, k as u16)
        };
        let mut parts = [NONE; 6];
        parts[0] = k as u16;
        match self.class_of(k) {
            OpClass::SoftmaxCrossEntropy => {
                step.w = self.input(k, 1);
                no_grad(step.w).then_some((step, parts))
            }
            OpClass::Softmax => {
                let lp = self.sole_consumer(k, uses)?;
                if self.class_of(lp) != OpClass::Log || kept(lp) {
                    return None;
                }
                let m = self.sole_consumer(lp, uses)?;
                if self.class_of(m) != OpClass::Multiply || kept(m) {
                    return None;
                }
                let (i0, i1) = (self.input(m, 0), self.input(m, 1));
                let c = if i1 as usize == lp { i0 } else { i1 };
                if c as usize == lp || !no_grad(c) {
                    return None;
                }
                let mut t = self.sole_consumer(m, uses)?;
                let mut r = NONE;
                if self.class_of(t) == OpClass::ReduceSum(ReduceAxis::Cols) {
                    if kept(t) {
                        return None;
                    }
                    r = t as u16;
                    t = self.sole_consumer(t, uses)?;
                }
                if self.class_of(t) != OpClass::ReduceSum(ReduceAxis::All) || kept(t) {
                    return None;
                }
                let neg = self.sole_consumer(t, uses)?;
                if self.class_of(neg) != OpClass::Negative {
                    return None;
                }
                step.node = neg as u16;
                step.w = c;
                step.b = k as u16;
                parts = [k as u16, lp as u16, m as u16, r, t as u16, neg as u16];
                Some((step, parts))
            }
            _ => None,
        }
    }

    /// The nodes a step reads (its inputs), by slot (`NONE` for unused slots).
    pub(crate) fn step_inputs(&self, st: &Step) -> [u16; 3] {
        match st.kind {
            StepKind::Op => {
                let mut ins = [NONE; 3];
                if let Some(n) = self.nodes.get(st.node as usize) {
                    for (d, &s) in ins.iter_mut().zip(n.input_ids()) {
                        *d = s;
                    }
                }
                ins
            }
            StepKind::Dense(_) => [st.x, st.w, st.b],
            StepKind::Loss => [st.x, st.w, NONE],
        }
    }

    fn input_needs_grad(&self, st: &Step, slot: usize) -> bool {
        let j = self.step_inputs(st).get(slot).copied().unwrap_or(NONE);
        self.nodes.get(j as usize).is_some_and(|n| n.needs_grad)
    }

    /// Whether the step's backward writes the gradient of input `slot`.
    pub(crate) fn writes_grad(&self, st: &Step, slot: usize) -> bool {
        st.back
            && self.input_needs_grad(st, slot)
            && match st.kind {
                StepKind::Op | StepKind::Dense(_) => true,
                StepKind::Loss => slot == 0,
            }
    }

    /// Whether the step's backward reads the value of input `slot`.
    fn reads_value(&self, st: &Step, slot: usize) -> bool {
        st.back
            && match st.kind {
                StepKind::Op => true,
                StepKind::Dense(_) => match slot {
                    0 => self.input_needs_grad(st, 1),
                    1 => self.input_needs_grad(st, 0),
                    _ => false,
                },
                StepKind::Loss => slot == 1,
            }
    }
}

/// A plan table (one entry per node at most, `N` entries) is full: cannot happen for a graph
/// of `N` nodes, reported as the node capacity it stands for.
const fn table_full<const N: usize>() -> Error {
    Error::NodeCapacity {
        capacity: N,
        needed: N.saturating_add(1),
    }
}
