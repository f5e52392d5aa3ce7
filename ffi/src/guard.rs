//! Checks of the pointers and lengths that come from C, before any reference is made from them.
//!
//! Every pointer is checked for NULL and alignment, every length for overflow, and every buffer
//! for overlap with the graph (or optimizer) it is used with and with the call's other buffers:
//! a `&mut` to a graph that aliases a `&[f32]` of data would be undefined behaviour in Rust.

use crate::status::{EgStatus, Fail};
use core::mem::{align_of, size_of};

/// A byte range `[start, end)` of the address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// The empty span (overlaps nothing).
    pub(crate) const EMPTY: Span = Span { start: 0, end: 0 };

    /// The bytes of `count` values of `T` at `p`; [`EgStatus::InvalidArgument`] when they
    /// would run past the end of the address space or exceed `isize::MAX` bytes.
    pub(crate) fn of<T>(p: *const T, count: usize) -> Result<Span, Fail> {
        let bytes = count
            .checked_mul(size_of::<T>())
            .filter(|b| *b <= isize::MAX as usize)
            .ok_or(Fail::Api(EgStatus::InvalidArgument))?;
        let start = p.addr();
        let end = start
            .checked_add(bytes)
            .ok_or(Fail::Api(EgStatus::InvalidArgument))?;
        Ok(Span { start, end })
    }

    /// Whether two spans share a byte (empty spans share none).
    pub(crate) fn overlaps(self, other: Span) -> bool {
        self.start < self.end
            && other.start < other.end
            && self.start < other.end
            && other.start < self.end
    }
}

/// Non-NULL and aligned for `T`.
pub(crate) fn check_ptr<T>(p: *const T) -> Result<(), Fail> {
    if p.is_null() {
        Err(Fail::Api(EgStatus::NullPointer))
    } else if !p.addr().is_multiple_of(align_of::<T>()) {
        Err(Fail::Api(EgStatus::Misaligned))
    } else {
        Ok(())
    }
}

/// Fails with [`EgStatus::Overlap`] when `span` overlaps any of `others`.
pub(crate) fn disjoint(span: Span, others: &[Span]) -> Result<(), Fail> {
    if others.iter().any(|o| span.overlaps(*o)) {
        Err(Fail::Api(EgStatus::Overlap))
    } else {
        Ok(())
    }
}

/// Checks `len` values of `T` at `p` and returns their span.
pub(crate) fn check_array<T>(p: *const T, len: usize, others: &[Span]) -> Result<Span, Fail> {
    check_ptr(p)?;
    let span = Span::of(p, len)?;
    disjoint(span, others)?;
    Ok(span)
}

/// A shared slice of `len` values from C.
///
/// # Safety
/// When `p` is non-NULL it must point to `len` initialised values of `T` that nothing writes
/// during the call.
pub(crate) unsafe fn input<'a, T>(
    p: *const T,
    len: usize,
    others: &[Span],
) -> Result<&'a [T], Fail> {
    check_array(p, len, others)?;
    // SAFETY: `p` is non-NULL and aligned, `len * size_of::<T>()` fits in `isize` and does not
    // wrap the address space (checked above); the caller guarantees that the memory holds `len`
    // initialised values that are not written during the call; it does not overlap the graph or
    // the call's other buffers (checked above), so no `&mut` aliases it.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A mutable slice of `len` values from C.
///
/// # Safety
/// When `p` is non-NULL it must point to `len` values of `T` (any bit pattern is accepted for
/// the plain types used here) that nothing else accesses during the call.
pub(crate) unsafe fn output<'a, T>(
    p: *mut T,
    len: usize,
    others: &[Span],
) -> Result<&'a mut [T], Fail> {
    check_array(p, len, others)?;
    // SAFETY: as in `input`; the caller guarantees exclusive access during the call, and the
    // buffer overlaps neither the graph nor the call's other buffers (checked above).
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// A checked output location, written only when the call succeeds.
pub(crate) struct Out<T> {
    ptr: *mut T,
}

impl<T: Copy> Out<T> {
    /// Checks an output pointer: non-NULL, aligned, disjoint from `others`.
    ///
    /// # Safety
    /// When `ptr` is non-NULL it must be valid for a write of one `T` for as long as the
    /// returned `Out` lives, and nothing else may access that memory meanwhile.
    pub(crate) unsafe fn new(ptr: *mut T, others: &[Span]) -> Result<(Self, Span), Fail> {
        let span = check_array(ptr.cast_const(), 1, others)?;
        Ok((Out { ptr }, span))
    }

    /// Writes the result (the last step of a successful call).
    pub(crate) fn write(self, v: T) {
        // SAFETY: non-NULL and aligned (checked in `new`), valid for a write with nothing else
        // accessing it (the contract of `new`), and disjoint from the graph and the call's
        // other buffers (checked in `new`), so no live reference covers it.
        unsafe { self.ptr.write(v) }
    }
}
