//! Slice iteration, splitting and copying, and size arithmetic, with no panic path at any
//! opt-level.
//!
//! `core`'s `chunks_exact`, `chunks`, `copy_from_slice`, `split_at`, `div_ceil` and `Zip` over
//! chunks each carry a check that panics (a zero chunk size, a length mismatch, a split past
//! the end, a division by zero — in `Zip`'s length too). When the optimiser inlines them at a
//! call site whose sizes it knows, the check folds away (opt-levels `s`, 2 and 3: the
//! panic-never gate proves it); at opt-level `z` (usual on a Cortex-M0) and 1 it keeps them as
//! out-of-line functions, and with them the panic. The crates of embedgrad call them through
//! [`SliceExt`] and [`UsizeExt`], which are, by the crate feature:
//!
//! - **default**: `core`'s own functions, unchanged — the fastest code at `s`, 2 and 3;
//! - **`total-slices`** (for builds at `z` or 1): versions whose every path returns even out of
//!   line, at the cost of a length check per row (measured on the Cortex-M4F at `s`: +10% on
//!   digits' training step, +12% on spiral_deep's), so the proof holds there too.
//!
//! | | default | `total-slices` |
//! | --- | --- | --- |
//! | [`SliceExt::exact_rows`] / [`SliceExt::exact_rows_mut`] | `chunks_exact` / `_mut` | rows of `width`; a shorter remainder is not yielded; `width` 0 yields nothing |
//! | [`SliceExt::pieces`] | `chunks` | pieces of at most `width`; `width` 0 yields nothing |
//! | [`SliceExt::copy_from`] | `copy_from_slice` | copies the common prefix |
//! | [`SliceExt::split_at_most`] / `_mut` | `split_at` / `_mut` | splits at `mid` clamped to the length |
//! | [`UsizeExt::div_up`] | `div_ceil` | ⌈a / d⌉, 0 for `d` = 0 |
//!
//! [`UsizeExt::round_up`], [`div_up`] and [`round_up`] are total in both. Callers only use
//! these where the sizes are right by construction (checked where they enter), so both give
//! the same results; the fallbacks make the functions total, they are not a way of handling
//! bad input.
//!
//! ```
//! use embedgrad_core::nopanic::SliceExt;
//!
//! let m = [1, 2, 3, 4, 5, 6, 7];
//! let sums: Vec<i32> = m.exact_rows(3).map(|r| r.iter().sum()).collect();
//! assert_eq!(sums, [6, 15]); // the remainder [7] is not a row
//! assert_eq!(m.pieces(3).last(), Some(&[7][..]));
//!
//! let mut t = [0; 6];
//! for (i, r) in t.exact_rows_mut(2).enumerate() {
//!     r.copy_from(&[i, i]);
//! }
//! assert_eq!(t, [0, 0, 1, 1, 2, 2]);
//!
//! use embedgrad_core::nopanic::UsizeExt;
//! assert_eq!(10.div_up(4), 3);
//! assert_eq!(10.round_up(8), 16);
//! let (a, b) = m.split_at_most(3);
//! assert_eq!((a.len(), b.len()), (3, 4));
//! ```

/// Panic-free `chunks_exact`, `chunks_exact_mut`, `chunks` and `copy_from_slice` (see the
/// [module](self)).
pub trait SliceExt<T> {
    /// Rows of `width` elements, front to back (as `chunks_exact`, without its panic). A
    /// remainder shorter than `width` is not yielded; a `width` of 0 yields nothing.
    fn exact_rows(&self, width: usize) -> Rows<'_, T>;
    /// Mutable rows of `width` elements (as `chunks_exact_mut`, without its panic).
    fn exact_rows_mut(&mut self, width: usize) -> RowsMut<'_, T>;
    /// Pieces of at most `width` elements (as `chunks`, without its panic): the last one may
    /// be shorter; a `width` of 0 yields nothing.
    fn pieces(&self, width: usize) -> Pieces<'_, T>;
    /// Copies `src` element by element over the common length (as `copy_from_slice`, which
    /// panics when the lengths differ; callers pass equal lengths).
    fn copy_from(&mut self, src: &[T])
    where
        T: Copy;
    /// Splits at `mid`, or at the end when `mid` is past it (as `split_at`, without its panic).
    fn split_at_most(&self, mid: usize) -> (&[T], &[T]);
    /// Splits at `mid`, or at the end when `mid` is past it (as `split_at_mut`, without its
    /// panic).
    fn split_at_most_mut(&mut self, mid: usize) -> (&mut [T], &mut [T]);
}

// Without `total-slices`: `core`'s own functions, exactly as written before this module — the
// fastest code where the optimiser inlines them (opt-levels s, 2 and 3), where their checks
// fold away (the panic-never gate proves it at each).
#[cfg(not(feature = "total-slices"))]
impl<T> SliceExt<T> for [T] {
    #[inline]
    fn exact_rows(&self, width: usize) -> Rows<'_, T> {
        self.chunks_exact(width)
    }

    #[inline]
    fn exact_rows_mut(&mut self, width: usize) -> RowsMut<'_, T> {
        self.chunks_exact_mut(width)
    }

    #[inline]
    fn pieces(&self, width: usize) -> Pieces<'_, T> {
        self.chunks(width)
    }

    #[inline]
    fn copy_from(&mut self, src: &[T])
    where
        T: Copy,
    {
        self.copy_from_slice(src);
    }

    #[inline]
    fn split_at_most(&self, mid: usize) -> (&[T], &[T]) {
        self.split_at(mid)
    }

    #[inline]
    fn split_at_most_mut(&mut self, mid: usize) -> (&mut [T], &mut [T]) {
        self.split_at_mut(mid)
    }
}

/// Iterator of [`SliceExt::exact_rows`]: `core`'s (without `total-slices`).
#[cfg(not(feature = "total-slices"))]
pub type Rows<'a, T> = core::slice::ChunksExact<'a, T>;
/// Iterator of [`SliceExt::exact_rows_mut`]: `core`'s (without `total-slices`).
#[cfg(not(feature = "total-slices"))]
pub type RowsMut<'a, T> = core::slice::ChunksExactMut<'a, T>;
/// Iterator of [`SliceExt::pieces`]: `core`'s (without `total-slices`).
#[cfg(not(feature = "total-slices"))]
pub type Pieces<'a, T> = core::slice::Chunks<'a, T>;

#[cfg(feature = "total-slices")]
pub use total::{Pieces, Rows, RowsMut};

/// With `total-slices`: iteration, splitting and copying whose every path returns, even out
/// of line (opt-levels z and 1).
#[cfg(feature = "total-slices")]
mod total {
    use super::SliceExt;
    use core::iter::FusedIterator;

    impl<T> SliceExt<T> for [T] {
        #[inline]
        fn exact_rows(&self, width: usize) -> Rows<'_, T> {
            if width == 0 {
                Rows {
                    rest: &[],
                    width: 1,
                }
            } else {
                Rows { rest: self, width }
            }
        }

        #[inline]
        fn exact_rows_mut(&mut self, width: usize) -> RowsMut<'_, T> {
            if width == 0 {
                RowsMut {
                    rest: &mut [],
                    width: 1,
                }
            } else {
                RowsMut { rest: self, width }
            }
        }

        #[inline]
        fn pieces(&self, width: usize) -> Pieces<'_, T> {
            if width == 0 {
                Pieces {
                    rest: &[],
                    width: 1,
                }
            } else {
                Pieces { rest: self, width }
            }
        }

        #[inline]
        fn copy_from(&mut self, src: &[T])
        where
            T: Copy,
        {
            for (d, s) in self.iter_mut().zip(src) {
                *d = *s;
            }
        }

        #[inline]
        fn split_at_most(&self, mid: usize) -> (&[T], &[T]) {
            match self.split_at_checked(mid) {
                Some(halves) => halves,
                None => (self, &[]),
            }
        }

        #[inline]
        fn split_at_most_mut(&mut self, mid: usize) -> (&mut [T], &mut [T]) {
            let mid = mid.min(self.len());
            self.split_at_mut_checked(mid).unwrap_or_default()
        }
    }

    /// Iterator of [`SliceExt::exact_rows`].
    #[derive(Clone, Debug)]
    pub struct Rows<'a, T> {
        rest: &'a [T],
        /// Never 0.
        width: usize,
    }

    impl<'a, T> Iterator for Rows<'a, T> {
        type Item = &'a [T];

        #[inline]
        fn next(&mut self) -> Option<&'a [T]> {
            let (row, rest) = self.rest.split_at_checked(self.width)?;
            self.rest = rest;
            Some(row)
        }

        #[inline]
        fn size_hint(&self) -> (usize, Option<usize>) {
            let n = self.rest.len().checked_div(self.width).unwrap_or(0);
            (n, Some(n))
        }
    }

    impl<'a, T> Rows<'a, T> {
        /// The elements after the last whole row (as `ChunksExact::remainder`): fewer than
        /// `width`, wherever the iteration stands.
        #[inline]
        pub fn remainder(&self) -> &'a [T] {
            let len = self.rest.len();
            let tail = len.checked_rem(self.width).unwrap_or(0);
            match self.rest.split_at_checked(len - tail) {
                Some((_, r)) => r,
                None => &[],
            }
        }
    }

    impl<T> ExactSizeIterator for Rows<'_, T> {}
    impl<T> FusedIterator for Rows<'_, T> {}

    /// Iterator of [`SliceExt::exact_rows_mut`].
    #[derive(Debug)]
    pub struct RowsMut<'a, T> {
        rest: &'a mut [T],
        /// Never 0.
        width: usize,
    }

    impl<'a, T> Iterator for RowsMut<'a, T> {
        type Item = &'a mut [T];

        #[inline]
        fn next(&mut self) -> Option<&'a mut [T]> {
            if self.rest.len() < self.width {
                return None;
            }
            let (row, rest) = core::mem::take(&mut self.rest).split_at_mut_checked(self.width)?;
            self.rest = rest;
            Some(row)
        }

        #[inline]
        fn size_hint(&self) -> (usize, Option<usize>) {
            let n = self.rest.len().checked_div(self.width).unwrap_or(0);
            (n, Some(n))
        }
    }

    impl<'a, T> RowsMut<'a, T> {
        /// The elements after the last whole row (as `ChunksExactMut::into_remainder`): fewer
        /// than `width`, wherever the iteration stands.
        #[inline]
        pub fn into_remainder(self) -> &'a mut [T] {
            let len = self.rest.len();
            let tail = len.checked_rem(self.width).unwrap_or(0);
            match self.rest.split_at_mut_checked(len - tail) {
                Some((_, r)) => r,
                None => &mut [],
            }
        }
    }

    impl<T> ExactSizeIterator for RowsMut<'_, T> {}
    impl<T> FusedIterator for RowsMut<'_, T> {}

    /// Iterator of [`SliceExt::pieces`].
    #[derive(Clone, Debug)]
    pub struct Pieces<'a, T> {
        rest: &'a [T],
        /// Never 0.
        width: usize,
    }

    impl<'a, T> Iterator for Pieces<'a, T> {
        type Item = &'a [T];

        #[inline]
        fn next(&mut self) -> Option<&'a [T]> {
            if self.rest.is_empty() {
                return None;
            }
            let (piece, rest) = self
                .rest
                .split_at_checked(self.width)
                .unwrap_or((self.rest, &[]));
            self.rest = rest;
            Some(piece)
        }

        #[inline]
        fn size_hint(&self) -> (usize, Option<usize>) {
            let n = self
                .rest
                .len()
                .div_ceil(self.width.max(1))
                .min(self.rest.len());
            (n, Some(n))
        }
    }

    impl<T> ExactSizeIterator for Pieces<'_, T> {}
    impl<T> FusedIterator for Pieces<'_, T> {}
}

/// Size arithmetic without a panic path (see the [module](self)).
pub trait UsizeExt {
    /// ⌈self / d⌉ (as `div_ceil`), 0 when `d` is 0.
    fn div_up(self, d: usize) -> usize;
    /// `self` rounded up to a multiple of `unit`: `self` itself when `unit` is 0, and
    /// saturating at the largest multiple below `usize::MAX` + 1.
    fn round_up(self, unit: usize) -> usize;
}

impl UsizeExt for usize {
    #[cfg(not(feature = "total-slices"))]
    #[inline]
    fn div_up(self, d: usize) -> usize {
        self.div_ceil(d)
    }

    #[cfg(feature = "total-slices")]
    #[inline]
    fn div_up(self, d: usize) -> usize {
        div_up(self, d)
    }

    #[inline]
    fn round_up(self, unit: usize) -> usize {
        round_up(self, unit)
    }
}

/// ⌈a / d⌉, 0 when `d` is 0: [`UsizeExt::div_up`] for `const` contexts.
#[inline]
pub const fn div_up(a: usize, d: usize) -> usize {
    match (a.checked_div(d), a.checked_rem(d)) {
        (Some(q), Some(0)) => q,
        (Some(q), Some(_)) => q + 1,
        _ => 0,
    }
}

/// `n` rounded up to a multiple of `unit`: [`UsizeExt::round_up`] for `const` contexts.
#[inline]
pub const fn round_up(n: usize, unit: usize) -> usize {
    if unit == 0 {
        return n;
    }
    match div_up(n, unit).checked_mul(unit) {
        Some(m) => m,
        None => match usize::MAX.checked_div(unit) {
            Some(q) => q.saturating_mul(unit),
            None => n,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_chunks_exact() {
        let v: Vec<u32> = (0..23).collect();
        for w in 1..30 {
            let a: Vec<&[u32]> = v.exact_rows(w).collect();
            let b: Vec<&[u32]> = v.chunks_exact(w).collect();
            assert_eq!(a, b, "width {w}");
            assert_eq!(v.exact_rows(w).len(), b.len());
            let mut m = v.clone();
            let mut n = v.clone();
            for (r, s) in m.exact_rows_mut(w).zip(n.chunks_exact_mut(w)) {
                r.reverse();
                s.reverse();
            }
            assert_eq!(m, n, "width {w}");
            assert_eq!(m.exact_rows_mut(w).len(), b.len());
            assert_eq!(v.exact_rows(w).remainder(), v.chunks_exact(w).remainder());
            let mut it = v.exact_rows(w);
            it.next();
            assert_eq!(it.remainder(), v.chunks_exact(w).remainder());
            let mut m2 = v.clone();
            let mut n2 = v.clone();
            let mut a = m2.exact_rows_mut(w);
            a.next();
            assert_eq!(a.into_remainder(), n2.chunks_exact_mut(w).into_remainder());
            let p: Vec<&[u32]> = v.pieces(w).collect();
            let q: Vec<&[u32]> = v.chunks(w).collect();
            assert_eq!(p, q, "width {w}");
            assert_eq!(v.pieces(w).len(), q.len());
        }
    }

    #[cfg(feature = "total-slices")]
    #[test]
    fn zero_width_and_empty_yield_nothing() {
        let v = [1, 2, 3];
        assert_eq!(v.exact_rows(0).next(), None);
        assert_eq!(v.exact_rows(0).len(), 0);
        assert_eq!(v.pieces(0).next(), None);
        let mut m = [1, 2, 3];
        assert!(m.exact_rows_mut(0).next().is_none());
        let e: [u8; 0] = [];
        assert_eq!(e.exact_rows(2).next(), None);
        assert_eq!(e.pieces(2).next(), None);
        assert_eq!(e.pieces(2).len(), 0);
    }

    #[test]
    fn splits_and_size_arithmetic() {
        let v = [1, 2, 3];
        // Past the end only with `total-slices` (default: `split_at`, which panics there).
        let ends = if cfg!(feature = "total-slices") { 6 } else { 4 };
        for mid in 0..ends {
            let (a, b) = v.split_at_most(mid);
            assert_eq!(a.len(), mid.min(3));
            assert_eq!([a, b].concat(), v);
            let mut m = v;
            let (a, b) = m.split_at_most_mut(mid);
            assert_eq!((a.len(), b.len()), (mid.min(3), 3 - mid.min(3)));
        }
        for a in 0..40usize {
            if cfg!(feature = "total-slices") {
                assert_eq!(a.div_up(0), 0);
            }
            assert_eq!(super::div_up(a, 0), 0);
            assert_eq!(a.round_up(0), a);
            for d in 1..12usize {
                assert_eq!(a.div_up(d), a.div_ceil(d));
                assert_eq!(super::div_up(a, d), a.div_ceil(d));
                assert_eq!(a.round_up(d), a.div_ceil(d) * d);
            }
        }
        assert_eq!(usize::MAX.div_up(2), usize::MAX / 2 + 1);
        assert_eq!(usize::MAX.round_up(8), usize::MAX / 8 * 8);
        assert_eq!(usize::MAX.round_up(1), usize::MAX);
    }

    #[cfg(feature = "total-slices")]
    #[test]
    fn copy_copies_the_common_prefix() {
        let mut d = [0; 4];
        d.copy_from(&[1, 2, 3, 4]);
        assert_eq!(d, [1, 2, 3, 4]);
        d.copy_from(&[9, 8]);
        assert_eq!(d, [9, 8, 3, 4]);
        d[..1].copy_from(&[5, 6, 7]);
        assert_eq!(d, [5, 8, 3, 4]);
    }
}
