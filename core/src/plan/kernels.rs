//! The matrix kernels shared by the ops and the plan's fused steps: one machine-code copy of
//! each, on runtime-shaped views, free of bounds checks in their inner loops (blocks are
//! taken as fixed-size arrays, rows as exact chunks).
//!
//! Every entry is summed in the textbook order (`k = 0, 1, …`, or row by row), so the
//! results are those of the plain triple loop; blocking `BLOCK` output columns only keeps the
//! partial sums in registers. The fused dense kernels add the bias to the finished dot
//! product and apply the activation to the rounded sum, exactly as separate `matmul`, `add`
//! and activation ops do, so fusing changes no bit.

use crate::{Activation, MatMut, MatRef, Scalar};

/// Output columns accumulated together in registers.
const BLOCK: usize = 4;

/// The `W` entries of `row` from column `j`, if there are that many.
#[inline(always)]
fn block<T: Copy, const W: usize>(row: &[T], j: usize) -> Option<&[T; W]> {
    row.get(j..j + W).and_then(|s| s.try_into().ok())
}

/// Columns `j..j + W` of `out = a · b` (`a` is `rows × k`, `b` is `k × cols`, all row-major
/// slices): for each row, `W` dot products side by side with their partial sums in
/// registers, each summed over `k` in order from zero.
#[inline(always)]
fn columns<T: Scalar, const W: usize>(
    a: &[T],
    k: usize,
    b: &[T],
    cols: usize,
    j: usize,
    out: &mut [T],
) {
    for (arow, orow) in a
        .chunks_exact(k.max(1))
        .zip(out.chunks_exact_mut(cols.max(1)))
    {
        let mut acc = [T::ZERO; W];
        let mut at = j;
        for &aik in arow {
            if let Some(bblock) = block::<T, W>(b, at) {
                for (s, &bkj) in acc.iter_mut().zip(bblock) {
                    *s += aik * bkj;
                }
            }
            at += cols;
        }
        if let Some(oblock) = orow.get_mut(j..j + W) {
            oblock.copy_from_slice(&acc);
        }
    }
}

/// `out = a · b` on row-major slices, in passes of `BLOCK`, 2 and 1 output columns, so that
/// narrow layers (the tutorial's are 2 wide) keep their sums in registers too. Each entry is
/// the textbook sum `Σ_k a[i][k] · b[k][j]`, `k = 0, 1, …` from zero.
fn matmul_slices<T: Scalar>(a: &[T], k: usize, b: &[T], cols: usize, out: &mut [T]) {
    let mut j = 0;
    while j + BLOCK <= cols {
        columns::<T, BLOCK>(a, k, b, cols, j, out);
        j += BLOCK;
    }
    if j + 2 <= cols {
        columns::<T, 2>(a, k, b, cols, j, out);
        j += 2;
    }
    if j < cols {
        columns::<T, 1>(a, k, b, cols, j, out);
    }
}

/// `out = A · B`, overwriting `out` (row by row: `out[i] = Σ_k A[i][k] · B[k]`).
pub fn matmul<T: Scalar>(a: MatRef<'_, T>, b: MatRef<'_, T>, mut out: MatMut<'_, T>) {
    let cols = out.cols();
    matmul_slices(
        a.as_slice(),
        a.cols(),
        b.as_slice(),
        cols,
        out.as_mut_slice(),
    );
}

/// `y = act(z)` for one entry, as the activation ops compute it.
#[inline(always)]
pub fn activate<T: Scalar>(act: Activation, z: T) -> T {
    match act {
        Activation::Identity => z,
        Activation::Sigmoid => T::ONE / (T::ONE + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => {
            if z > T::ZERO {
                z
            } else {
                T::ZERO
            }
        }
        Activation::LeakyRelu(slope) => {
            if z > T::ZERO {
                z
            } else {
                T::from_f64(slope) * z
            }
        }
    }
}

/// The fused dense layer `out = act(X · W + b)` (`b` a `1 × J` row, or none): the product
/// in register-blocked column passes, then the bias and the activation in one pass over the
/// output. The bias is added to the finished dot product, as separate `matmul` and `add` ops
/// do, so fusing changes no bit.
pub fn dense_forward<T: Scalar>(
    x: MatRef<'_, T>,
    w: MatRef<'_, T>,
    b: Option<MatRef<'_, T>>,
    act: Activation,
    mut out: MatMut<'_, T>,
) {
    let cols = out.cols();
    let o = out.as_mut_slice();
    matmul_slices(x.as_slice(), x.cols(), w.as_slice(), cols, o);
    let bias = b.map(|b| b.as_slice()).unwrap_or(&[]);
    // One loop per activation, so the match is outside the loops.
    macro_rules! finish {
        ($f:expr) => {
            if bias.len() == cols {
                for orow in o.chunks_exact_mut(cols.max(1)) {
                    for (v, &bj) in orow.iter_mut().zip(bias) {
                        *v = $f(*v + bj);
                    }
                }
            } else {
                for v in o.iter_mut() {
                    *v = $f(*v);
                }
            }
        };
    }
    match act {
        Activation::Identity => finish!(|z| z),
        Activation::Sigmoid => finish!(|z: T| T::ONE / (T::ONE + (-z).exp())),
        Activation::Tanh => finish!(|z: T| z.tanh()),
        _ => finish!(|z| activate(act, z)),
    }
}

/// Turns the gradient with respect to a layer's output `y` into the gradient with respect to
/// its pre-activation, in place: `g ← g · act'(y)`, the same expressions as the activation
/// ops' backward.
pub fn activation_backward<T: Scalar>(act: Activation, y: &[T], g: &mut [T]) {
    match act {
        Activation::Identity => {}
        Activation::Sigmoid => {
            for (g, &s) in g.iter_mut().zip(y) {
                *g = *g * s * (T::ONE - s);
            }
        }
        Activation::Tanh => {
            for (g, &t) in g.iter_mut().zip(y) {
                *g *= T::ONE - t * t;
            }
        }
        Activation::Relu => {
            for (g, &y) in g.iter_mut().zip(y) {
                *g = if y > T::ZERO { *g } else { T::ZERO };
            }
        }
        Activation::LeakyRelu(slope) => {
            let a = T::from_f64(slope);
            for (g, &y) in g.iter_mut().zip(y) {
                *g = if y > T::ZERO { *g } else { a * *g };
            }
        }
    }
}

/// `dA += G · Bᵀ` (each entry `dA[i][k] += Σ_j G[i][j] · B[k][j]`, summed over `j` in order);
/// with `overwrite`, `dA = G · Bᵀ`.
pub fn matmul_grad_a<T: Scalar>(
    g: MatRef<'_, T>,
    b: MatRef<'_, T>,
    mut da: MatMut<'_, T>,
    overwrite: bool,
) {
    for (darow, grow) in da.row_iter_mut().zip(g.row_iter()) {
        let mut blocks = darow.chunks_exact_mut(BLOCK);
        let mut brows = b.row_iter();
        // `BLOCK` dot products side by side, so that their additions overlap.
        for dblock in &mut blocks {
            let mut rows: [&[T]; BLOCK] = [&[]; BLOCK];
            for r in rows.iter_mut() {
                *r = brows.next().unwrap_or(&[]);
            }
            let mut acc = [T::ZERO; BLOCK];
            for (j, &gij) in grow.iter().enumerate() {
                for (s, brow) in acc.iter_mut().zip(rows) {
                    if let Some(&bkj) = brow.get(j) {
                        *s += gij * bkj;
                    }
                }
            }
            for (d, s) in dblock.iter_mut().zip(acc) {
                *d = if overwrite { s } else { *d + s };
            }
        }
        for (d, brow) in blocks.into_remainder().iter_mut().zip(brows) {
            let mut s = T::ZERO;
            for (&gij, &bkj) in grow.iter().zip(brow) {
                s += gij * bkj;
            }
            *d = if overwrite { s } else { *d + s };
        }
    }
}

/// `dB += Aᵀ · G` (each entry `dB[k][j] += A[i][k] · G[i][j]` for `i = 0, 1, …` in order);
/// with `overwrite`, the sums start from zero instead of `dB`.
pub fn matmul_grad_b<T: Scalar>(
    a: MatRef<'_, T>,
    g: MatRef<'_, T>,
    mut db: MatMut<'_, T>,
    overwrite: bool,
) {
    for (k, dbrow) in db.row_iter_mut().enumerate() {
        let mut blocks = dbrow.chunks_exact_mut(BLOCK);
        let mut j = 0;
        for dblock in &mut blocks {
            let mut acc = [T::ZERO; BLOCK];
            if !overwrite {
                acc.copy_from_slice(dblock);
            }
            for (arow, grow) in a.row_iter().zip(g.row_iter()) {
                if let (Some(&aik), Some(gblock)) = (arow.get(k), block::<T, BLOCK>(grow, j)) {
                    for (s, &gij) in acc.iter_mut().zip(gblock) {
                        *s += aik * gij;
                    }
                }
            }
            dblock.copy_from_slice(&acc);
            j += BLOCK;
        }
        for (d, j) in blocks.into_remainder().iter_mut().zip(j..) {
            let mut s = if overwrite { T::ZERO } else { *d };
            for (arow, grow) in a.row_iter().zip(g.row_iter()) {
                if let (Some(&aik), Some(&gij)) = (arow.get(k), grow.get(j)) {
                    s += aik * gij;
                }
            }
            *d = s;
        }
    }
}

/// `db += Σ_rows G` (a row bias's gradient: column sums, each summed row by row in order);
/// with `overwrite`, the sums start from zero.
pub fn column_sums<T: Scalar>(g: MatRef<'_, T>, db: &mut [T], overwrite: bool) {
    let mut blocks = db.chunks_exact_mut(BLOCK);
    let mut j = 0;
    for dblock in &mut blocks {
        let mut acc = [T::ZERO; BLOCK];
        if !overwrite {
            acc.copy_from_slice(dblock);
        }
        for grow in g.row_iter() {
            if let Some(gblock) = block::<T, BLOCK>(grow, j) {
                for (a, &g) in acc.iter_mut().zip(gblock) {
                    *a += g;
                }
            }
        }
        dblock.copy_from_slice(&acc);
        j += BLOCK;
    }
    for (d, j) in blocks.into_remainder().iter_mut().zip(j..) {
        let mut acc = if overwrite { T::ZERO } else { *d };
        for grow in g.row_iter() {
            if let Some(&g) = grow.get(j) {
                acc += g;
            }
        }
        *d = acc;
    }
}

/// The fused softmax-cross-entropy forward: writes `p = softmax(z)` row by row into `p` and
/// returns `J = −Σ c ⊙ log softmax(z)` in the log-sum-exp form (`c_ij = 0` terms skipped).
/// The row maximum's `exp(0) = 1` is not computed: one `exp` per other logit, one `ln` per row.
pub fn softmax_xent_forward<T: Scalar>(
    z: MatRef<'_, T>,
    c: MatRef<'_, T>,
    mut p: MatMut<'_, T>,
) -> T {
    let mut total = T::ZERO;
    for ((zrow, crow), prow) in z.row_iter().zip(c.row_iter()).zip(p.row_iter_mut()) {
        let (m, s) = softmax_row(zrow, prow);
        let lse = s.ln();
        for (&v, &cj) in zrow.iter().zip(crow) {
            if cj != T::ZERO {
                total -= cj * ((v - m) - lse);
            }
        }
    }
    total
}

/// One row of the softmax with the max shift: `p = softmax(z)`; returns the shift `m` and the
/// sum `s = Σ e^(z − m)` before normalising. `e^0 = 1` is not computed (it is exactly 1 in
/// every math backend), so the row maximum costs no `exp`.
#[inline]
pub fn softmax_row<T: Scalar>(z: &[T], p: &mut [T]) -> (T, T) {
    let mut m = T::NEG_INFINITY;
    for &v in z {
        m = m.max(v);
    }
    let mut s = T::ZERO;
    for (e, &v) in p.iter_mut().zip(z) {
        let d = v - m;
        *e = if d == T::ZERO { T::ONE } else { d.exp() };
        s += *e;
    }
    let inv = T::ONE / s;
    for e in p.iter_mut() {
        *e *= inv;
    }
    (m, s)
}

/// The fused loss's backward, in place: `p ← g · (p · Σ_k c_k − c)` row by row (`g (p − c)`
/// for one-hot rows), which is the gradient with respect to the logits.
pub fn softmax_xent_backward<T: Scalar>(g: T, c: MatRef<'_, T>, p: &mut [T], cols: usize) {
    for (prow, crow) in p.chunks_exact_mut(cols.max(1)).zip(c.row_iter()) {
        let mut csum = T::ZERO;
        for &cj in crow {
            csum += cj;
        }
        for (pj, &cj) in prow.iter_mut().zip(crow) {
            *pj = g * (*pj * csum - cj);
        }
    }
}

/// Adds `p`'s gradient-of-logits form to `dz` (when the logits' gradient buffer is not `p`
/// itself): `dz += g · (p · Σc − c)`.
pub fn softmax_xent_backward_into<T: Scalar>(
    g: T,
    c: MatRef<'_, T>,
    p: &[T],
    dz: &mut [T],
    cols: usize,
    overwrite: bool,
) {
    let rows = p.chunks_exact(cols.max(1)).zip(c.row_iter());
    for ((prow, crow), drow) in rows.zip(dz.chunks_exact_mut(cols.max(1))) {
        let mut csum = T::ZERO;
        for &cj in crow {
            csum += cj;
        }
        for ((d, &pj), &cj) in drow.iter_mut().zip(prow).zip(crow) {
            let v = g * (pj * csum - cj);
            *d = if overwrite { v } else { *d + v };
        }
    }
}
