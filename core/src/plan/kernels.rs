//! The matrix kernels shared by the ops and the plan's fused steps: one machine-code copy of
//! each, on runtime-shaped views, free of bounds checks in their inner loops (blocks are
//! taken as fixed-size arrays, rows as exact chunks).
//!
//! Every entry is summed in the textbook order (`k = 0, 1, …`, or row by row), so the
//! results are those of the plain triple loop; blocking `BLOCK` output columns only keeps the
//! partial sums in registers. The fused dense kernels add the bias to the finished dot
//! product and apply the activation to the rounded sum, exactly as separate `matmul`, `add`
//! and activation ops do, so fusing changes no bit.

use crate::nopanic::SliceExt as _;
use crate::{Activation, MatMut, MatRef, Scalar};

/// Output columns accumulated together in registers.
const BLOCK: usize = 4;

/// The `W` entries of `row` from column `j`, if there are that many.
#[inline(always)]
fn block<T: Copy, const W: usize>(row: &[T], j: usize) -> Option<&[T; W]> {
    row.get(j..j + W).and_then(|s| s.try_into().ok())
}

/// Columns `j..j + W` of `out = a · b` (`a` is `rows × k`, `b` is `k × cols`, all row-major
/// slices): for each row, `W` dot products side by side, each summed over `k` in order from
/// zero. The partial sums are named locals, not an array, so that they stay in registers at
/// every opt-level (an array is kept on the stack at `opt-level = "s"`).
#[inline(always)]
fn columns<T: Scalar, const W: usize>(
    a: &[T],
    k: usize,
    b: &[T],
    cols: usize,
    j: usize,
    out: &mut [T],
) {
    let cols = cols.max(1);
    let Some(b) = b.get(j..) else { return };
    if k <= 2 {
        short_columns::<T, W>(a, k, b, cols, j, out);
        return;
    }
    for (arow, orow) in a.exact_rows(k.max(1)).zip(out.exact_rows_mut(cols)) {
        let Some(o) = orow.get_mut(j..j + W) else {
            continue;
        };
        // `b` from column `j`, one row of `b` per entry of `arow`.
        let brows = b.pieces(cols);
        match o {
            [o0, o1, o2, o3] => {
                let (mut s0, mut s1, mut s2, mut s3) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
                for (&x, brow) in arow.iter().zip(brows) {
                    if let [b0, b1, b2, b3, ..] = *brow {
                        s0 += x * b0;
                        s1 += x * b1;
                        s2 += x * b2;
                        s3 += x * b3;
                    }
                }
                (*o0, *o1, *o2, *o3) = (s0, s1, s2, s3);
            }
            [o0, o1] => {
                let (mut s0, mut s1) = (T::ZERO, T::ZERO);
                for (&x, brow) in arow.iter().zip(brows) {
                    if let [b0, b1, ..] = *brow {
                        s0 += x * b0;
                        s1 += x * b1;
                    }
                }
                (*o0, *o1) = (s0, s1);
            }
            [o0] => {
                let mut s0 = T::ZERO;
                for (&x, brow) in arow.iter().zip(brows) {
                    if let [b0, ..] = *brow {
                        s0 += x * b0;
                    }
                }
                *o0 = s0;
            }
            _ => {}
        }
    }
}

/// [`columns`] for products over `k ≤ 2` (a layer on the 2-D inputs of the seed examples, or
/// any 2-wide layer): the `k × W` block of `b` is read once into locals, so each row costs
/// only its own loads, multiply-adds and stores. The sums are the textbook ones,
/// `(0 + a₀b₀) + a₁b₁`.
#[inline(always)]
fn short_columns<T: Scalar, const W: usize>(
    a: &[T],
    k: usize,
    b: &[T],
    cols: usize,
    j: usize,
    out: &mut [T],
) {
    let row = |r: usize| -> [T; W] {
        let mut v = [T::ZERO; W];
        if let Some(s) = b.get(r * cols..r * cols + W) {
            for (d, &x) in v.iter_mut().zip(s) {
                *d = x;
            }
        }
        v
    };
    let (b0, b1) = (row(0), row(1));
    let rows = a.exact_rows(k.max(1)).zip(out.exact_rows_mut(cols));
    match (k, W) {
        (2, 2) => {
            let (&[u0, u1], &[v0, v1]) = (b0.as_slice(), b1.as_slice()) else {
                return;
            };
            for (arow, orow) in rows {
                if let (&[x0, x1], Some([o0, o1])) = (arow, orow.get_mut(j..j + 2)) {
                    *o0 = (T::ZERO + x0 * u0) + x1 * v0;
                    *o1 = (T::ZERO + x0 * u1) + x1 * v1;
                }
            }
        }
        (2, _) => {
            for (arow, orow) in rows {
                if let (&[x0, x1], Some(o)) = (arow, orow.get_mut(j..j + W)) {
                    for ((o, &u), &v) in o.iter_mut().zip(&b0).zip(&b1) {
                        *o = (T::ZERO + x0 * u) + x1 * v;
                    }
                }
            }
        }
        _ => {
            for (arow, orow) in rows {
                if let (&[x0], Some(o)) = (arow, orow.get_mut(j..j + W)) {
                    for (o, &u) in o.iter_mut().zip(&b0) {
                        *o = T::ZERO + x0 * u;
                    }
                }
            }
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
                for orow in o.exact_rows_mut(cols.max(1)) {
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
/// with `overwrite`, `dA = G · Bᵀ`. Four dot products side by side (rows of `B` are
/// contiguous in `j`), their sums in named locals.
pub fn matmul_grad_a<T: Scalar>(
    g: MatRef<'_, T>,
    b: MatRef<'_, T>,
    mut da: MatMut<'_, T>,
    overwrite: bool,
) {
    let jd = g.cols().max(1);
    let kd = da.cols().max(1);
    let bs = b.as_slice();
    let put = |d: &mut T, s: T| *d = if overwrite { s } else { *d + s };
    if jd == 2 {
        // Dot products of length 2 (a 2-wide layer's input gradient): `(0 + g₀b₀) + g₁b₁`
        // per entry, the rows of `B` read as pairs.
        let rows = da
            .as_mut_slice()
            .exact_rows_mut(kd)
            .zip(g.as_slice().exact_rows(2));
        for (darow, grow) in rows {
            let &[g0, g1] = grow else { continue };
            for (d, brow) in darow.iter_mut().zip(bs.exact_rows(2)) {
                if let &[b0, b1] = brow {
                    put(d, (T::ZERO + g0 * b0) + g1 * b1);
                }
            }
        }
        return;
    }
    for (darow, grow) in da
        .as_mut_slice()
        .exact_rows_mut(kd)
        .zip(g.as_slice().exact_rows(jd))
    {
        let mut brows = bs.exact_rows(jd);
        let mut blocks = darow.exact_rows_mut(BLOCK);
        for d in &mut blocks {
            let (Some(r0), Some(r1), Some(r2), Some(r3)) =
                (brows.next(), brows.next(), brows.next(), brows.next())
            else {
                break;
            };
            let (mut s0, mut s1, mut s2, mut s3) = (T::ZERO, T::ZERO, T::ZERO, T::ZERO);
            for ((((&gj, &b0), &b1), &b2), &b3) in grow.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
                s0 += gj * b0;
                s1 += gj * b1;
                s2 += gj * b2;
                s3 += gj * b3;
            }
            if let [d0, d1, d2, d3] = d {
                put(d0, s0);
                put(d1, s1);
                put(d2, s2);
                put(d3, s3);
            }
        }
        for (d, brow) in blocks.into_remainder().iter_mut().zip(brows) {
            let mut s = T::ZERO;
            for (&gj, &bkj) in grow.iter().zip(brow) {
                s += gj * bkj;
            }
            put(d, s);
        }
    }
}

/// `dB += Aᵀ · G` (each entry `dB[k][j] += A[i][k] · G[i][j]` for `i = 0, 1, …` in order);
/// with `overwrite`, the sums start from zero instead of `dB`. Blocks of 2 rows × 4 columns
/// of `dB` are summed in named locals over all rows `i` (2 loads of `A`, 4 of `G`, 8
/// multiply-adds per row).
pub fn matmul_grad_b<T: Scalar>(
    a: MatRef<'_, T>,
    g: MatRef<'_, T>,
    mut db: MatMut<'_, T>,
    overwrite: bool,
) {
    let kd = a.cols().max(1);
    let jd = db.cols().max(1);
    let (asl, gsl) = (a.as_slice(), g.as_slice());
    let start = |d: &T| if overwrite { T::ZERO } else { *d };
    let dbs = db.as_mut_slice();
    let mut k = 0;
    // Pairs of rows of dB.
    while k + 2 <= kd {
        let Some((top, bottom)) = dbs
            .get_mut(k * jd..(k + 2) * jd)
            .and_then(|two| two.split_at_mut_checked(jd))
        else {
            return;
        };
        let mut j = 0;
        for (dt, dbm) in top.exact_rows_mut(BLOCK).zip(bottom.exact_rows_mut(BLOCK)) {
            let (
                Ok(&mut [ref mut t0, ref mut t1, ref mut t2, ref mut t3]),
                Ok(&mut [ref mut u0, ref mut u1, ref mut u2, ref mut u3]),
            ) = (<&mut [T; 4]>::try_from(dt), <&mut [T; 4]>::try_from(dbm))
            else {
                break;
            };
            let (mut s0, mut s1, mut s2, mut s3) = (start(t0), start(t1), start(t2), start(t3));
            let (mut v0, mut v1, mut v2, mut v3) = (start(u0), start(u1), start(u2), start(u3));
            for (arow, grow) in asl.exact_rows(kd).zip(gsl.exact_rows(jd)) {
                if let (Some(&[x0, x1]), Some(&[g0, g1, g2, g3])) = (
                    arow.get(k..k + 2).and_then(|s| <&[T; 2]>::try_from(s).ok()),
                    grow.get(j..j + 4).and_then(|s| <&[T; 4]>::try_from(s).ok()),
                ) {
                    s0 += x0 * g0;
                    s1 += x0 * g1;
                    s2 += x0 * g2;
                    s3 += x0 * g3;
                    v0 += x1 * g0;
                    v1 += x1 * g1;
                    v2 += x1 * g2;
                    v3 += x1 * g3;
                }
            }
            (*t0, *t1, *t2, *t3) = (s0, s1, s2, s3);
            (*u0, *u1, *u2, *u3) = (v0, v1, v2, v3);
            j += BLOCK;
        }
        // Two more columns of the pair (narrow layers: the tutorial's are 2 wide).
        if j + 2 <= jd {
            if let (Some([t0, t1]), Some([u0, u1])) =
                (top.get_mut(j..j + 2), bottom.get_mut(j..j + 2))
            {
                let (mut s0, mut s1, mut v0, mut v1) = (start(t0), start(t1), start(u0), start(u1));
                for (arow, grow) in asl.exact_rows(kd).zip(gsl.exact_rows(jd)) {
                    if let (Some(&[x0, x1]), Some(&[g0, g1])) = (
                        arow.get(k..k + 2).and_then(|s| <&[T; 2]>::try_from(s).ok()),
                        grow.get(j..j + 2).and_then(|s| <&[T; 2]>::try_from(s).ok()),
                    ) {
                        s0 += x0 * g0;
                        s1 += x0 * g1;
                        v0 += x1 * g0;
                        v1 += x1 * g1;
                    }
                }
                (*t0, *t1, *u0, *u1) = (s0, s1, v0, v1);
            }
            j += 2;
        }
        grad_b_rest(asl, kd, gsl, jd, k, j, top, overwrite);
        grad_b_rest(asl, kd, gsl, jd, k + 1, j, bottom, overwrite);
        k += 2;
    }
    if let Some(last) = dbs.get_mut(k * jd..(k + 1) * jd) {
        grad_b_rest(asl, kd, gsl, jd, k, 0, last, overwrite);
    }
}

/// Columns `j..` of row `k` of `dB += Aᵀ · G`, one entry at a time (the part the blocks of
/// [`matmul_grad_b`] leave).
#[allow(clippy::too_many_arguments)]
fn grad_b_rest<T: Scalar>(
    a: &[T],
    kd: usize,
    g: &[T],
    jd: usize,
    k: usize,
    j: usize,
    dbrow: &mut [T],
    overwrite: bool,
) {
    for (q, d) in dbrow.iter_mut().enumerate().skip(j) {
        let mut s = if overwrite { T::ZERO } else { *d };
        for (arow, grow) in a.exact_rows(kd).zip(g.exact_rows(jd)) {
            if let (Some(&x), Some(&gv)) = (arow.get(k), grow.get(q)) {
                s += x * gv;
            }
        }
        *d = s;
    }
}

/// `db += Σ_rows G` (a row bias's gradient: column sums, each summed row by row in order);
/// with `overwrite`, the sums start from zero.
pub fn column_sums<T: Scalar>(g: MatRef<'_, T>, db: &mut [T], overwrite: bool) {
    if let [d0, d1] = db {
        // Two columns: both sums in locals, one pass over the rows.
        let (mut s0, mut s1) = if overwrite {
            (T::ZERO, T::ZERO)
        } else {
            (*d0, *d1)
        };
        for grow in g.as_slice().exact_rows(2) {
            if let &[a, b] = grow {
                s0 += a;
                s1 += b;
            }
        }
        (*d0, *d1) = (s0, s1);
        return;
    }
    let mut blocks = db.exact_rows_mut(BLOCK);
    let mut j = 0;
    for dblock in &mut blocks {
        let mut acc = [T::ZERO; BLOCK];
        if !overwrite {
            for (a, &d) in acc.iter_mut().zip(dblock.iter()) {
                *a = d;
            }
        }
        for grow in g.row_iter() {
            if let Some(gblock) = block::<T, BLOCK>(grow, j) {
                for (a, &g) in acc.iter_mut().zip(gblock) {
                    *a += g;
                }
            }
        }
        for (d, a) in dblock.iter_mut().zip(acc) {
            *d = a;
        }
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
    if z.cols() == 2 {
        // Two classes (binary classification, the tutorial's examples): the same operations
        // in the same order as the general loop below, on named locals.
        let rows = z.as_slice().exact_rows(2).zip(c.as_slice().exact_rows(2));
        for ((zrow, crow), prow) in rows.zip(p.as_mut_slice().exact_rows_mut(2)) {
            let (&[z0, z1], &[c0, c1], [p0, p1]) = (zrow, crow, prow) else {
                continue;
            };
            let m = T::NEG_INFINITY.max(z0).max(z1);
            let (d0, d1) = (z0 - m, z1 - m);
            let e0 = if d0 == T::ZERO { T::ONE } else { d0.exp() };
            let e1 = if d1 == T::ZERO { T::ONE } else { d1.exp() };
            let s = T::ZERO + e0 + e1;
            let inv = T::ONE / s;
            (*p0, *p1) = (e0 * inv, e1 * inv);
            let lse = s.ln();
            if c0 != T::ZERO {
                total -= c0 * (d0 - lse);
            }
            if c1 != T::ZERO {
                total -= c1 * (d1 - lse);
            }
        }
        return total;
    }
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
    if cols == 2 {
        // Two classes: the loop below on named locals, same operations in the same order.
        for (prow, crow) in p.exact_rows_mut(2).zip(c.as_slice().exact_rows(2)) {
            if let ([p0, p1], &[c0, c1]) = (prow, crow) {
                let csum = T::ZERO + c0 + c1;
                (*p0, *p1) = (g * (*p0 * csum - c0), g * (*p1 * csum - c1));
            }
        }
        return;
    }
    for (prow, crow) in p.exact_rows_mut(cols.max(1)).zip(c.row_iter()) {
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
    let rows = p.exact_rows(cols.max(1)).zip(c.row_iter());
    for ((prow, crow), drow) in rows.zip(dz.exact_rows_mut(cols.max(1))) {
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
