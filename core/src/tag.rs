//! Graph tags: 48 bits from one counter for the whole program.
//!
//! A [`NodeId`](crate::NodeId) carries the tag of the graph that made it, and a graph accepts
//! only handles with its own tag. Every [`Graph::new`](crate::Graph::new), every
//! [`Graph::clear`](crate::Graph::clear) and the first node of a
//! [`Graph::empty`](crate::Graph::empty) take the next tag, so a handle of another graph, or of
//! the same graph before a `clear`, carries a tag the graph no longer has. With 16-bit tags the
//! counter came round again after 65,535 clears and an old handle read whatever node now sat at
//! its index; 48 bits come round after 2⁴⁸ − 1 ≈ 2.8 · 10¹⁴ tags, about nine years of one
//! `clear` every microsecond, which is longer than any device runs its graphs.
//!
//! There is no 64-bit atomic on Cortex-M or RV32, so the counter is two `AtomicU32`s: the low
//! word counts, the high word takes the carry. Where the target has 32-bit read-modify-write
//! (Cortex-M3 and up, RV32 with the A extension, every host) the low word is a `fetch_add`;
//! on a Cortex-M0, which has only atomic loads and stores, a load and a store. Races (an
//! interrupt that takes a tag while the main loop takes one) can only hand out a tag twice —
//! two graphs with one tag, or a tag 2³² before or after its turn when the race falls on the
//! carry — which weakens the foreign-handle check for those graphs and never memory safety: a
//! handle's index is still checked against the graph's own node table. `clear` also never
//! takes the tag the graph already had, so a race cannot revive the handles of the `clear`
//! just made. A lock (`critical-section`) would close the race on the M0, at the price of an
//! implementation every firmware must provide; `portable-atomic`'s `AtomicU64` needs the same
//! there, which is why the counter is written here.

use core::sync::atomic::{AtomicU32, Ordering};

/// Bits of a graph tag; the other 16 of a [`NodeId`](crate::NodeId)'s 64 are the index.
pub(crate) const TAG_BITS: u32 = 48;

/// The largest tag.
pub(crate) const TAG_MAX: u64 = (1 << TAG_BITS) - 1;

/// A program-wide counter of 48-bit tags, from 1 upwards (0 is never a tag).
pub(crate) struct TagCounter {
    lo: AtomicU32,
    hi: AtomicU32,
}

impl TagCounter {
    /// A counter whose next tag is `next` (masked to 48 bits).
    pub(crate) const fn starting_at(next: u64) -> Self {
        Self {
            lo: AtomicU32::new(next as u32),
            hi: AtomicU32::new(((next & TAG_MAX) >> 32) as u32),
        }
    }

    /// The next raw count, masked to 48 bits (0 once every 2⁴⁸).
    fn take(&self) -> u64 {
        #[cfg(target_has_atomic = "32")]
        let (hi, lo) = {
            let lo = self.lo.fetch_add(1, Ordering::Relaxed);
            // The one that takes the last low value carries into the high word; its own tag
            // still has the old high word.
            let hi = if lo == u32::MAX {
                self.hi.fetch_add(1, Ordering::Relaxed)
            } else {
                self.hi.load(Ordering::Relaxed)
            };
            (hi, lo)
        };
        #[cfg(not(target_has_atomic = "32"))]
        let (hi, lo) = {
            let lo = self.lo.load(Ordering::Relaxed);
            let hi = self.hi.load(Ordering::Relaxed);
            if lo == u32::MAX {
                self.hi.store(hi.wrapping_add(1), Ordering::Relaxed);
            }
            self.lo.store(lo.wrapping_add(1), Ordering::Relaxed);
            (hi, lo)
        };
        ((u64::from(hi) << 32) | u64::from(lo)) & TAG_MAX
    }

    /// A fresh tag: never 0.
    pub(crate) fn next(&self) -> u64 {
        match self.take() {
            0 => self.take().max(1),
            t => t,
        }
    }

    /// A fresh tag other than `old` (what `clear` takes).
    pub(crate) fn next_after(&self, old: u64) -> u64 {
        match self.next() {
            t if t == old => self.next(),
            t => t,
        }
    }

    /// Moves the counter `n` tags on, as if that many had been taken (tests only).
    #[cfg(test)]
    pub(crate) fn skip(&self, n: u64) {
        let add = n as u32;
        let old = self.lo.fetch_add(add, Ordering::Relaxed);
        let carry = u32::from(old.checked_add(add).is_none());
        self.hi
            .fetch_add(((n >> 32) as u32).wrapping_add(carry), Ordering::Relaxed);
    }
}

/// The program's tags.
static TAGS: TagCounter = TagCounter::starting_at(1);

/// A fresh non-zero tag.
pub(crate) fn next_tag() -> u64 {
    TAGS.next()
}

/// A fresh non-zero tag other than `old`.
pub(crate) fn next_tag_after(old: u64) -> u64 {
    TAGS.next_after(old)
}

/// Moves the program's counter on by `n` tags (tests only; never backwards, so no live graph
/// of another test can be given a tag twice).
#[cfg(test)]
pub(crate) fn skip_tags(n: u64) {
    TAGS.skip(n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Graph, NoOp, NodeId};

    #[test]
    fn counts_across_the_carry_into_the_high_word() {
        let c = TagCounter::starting_at(u64::from(u32::MAX) - 1);
        let tags = [c.next(), c.next(), c.next(), c.next()];
        let first = u64::from(u32::MAX) - 1;
        assert_eq!(tags, [first, first + 1, first + 2, first + 3]);
        assert_eq!(tags[2], 1 << 32);
    }

    #[test]
    fn skips_zero_where_the_48_bits_come_round() {
        let c = TagCounter::starting_at(TAG_MAX - 1);
        assert_eq!([c.next(), c.next(), c.next()], [TAG_MAX - 1, TAG_MAX, 1]);
        let c = TagCounter::starting_at(0);
        assert_eq!(c.next(), 1);
    }

    #[test]
    fn next_after_never_returns_the_old_tag() {
        let c = TagCounter::starting_at(7);
        assert_eq!(c.next_after(7), 8);
        assert_eq!(c.next_after(5), 9);
    }

    #[test]
    fn skip_moves_the_counter_with_carry() {
        let c = TagCounter::starting_at(5);
        c.skip(u64::from(u32::MAX));
        assert_eq!(c.next(), 5 + u64::from(u32::MAX));
        c.skip(3 << 32);
        assert_eq!(c.next(), 6 + u64::from(u32::MAX) + (3 << 32));
    }

    /// A handle from before `clear` after as many clears as made 16-bit tags (and a counter
    /// without its high word) come round: still refused, and it reads no node.
    #[test]
    fn a_stale_handle_stays_stale_after_very_many_clears() {
        let mut g: Graph<f32, NoOp, 4, 8> = Graph::new();
        let old = g.placeholder::<1, 2>().unwrap().id();
        for skip in [
            (1u64 << 16) - 1,
            1 << 16,
            u64::from(u32::MAX),
            1 << 32,
            1 << 40,
        ] {
            skip_tags(skip);
            g.clear();
            let new = g.placeholder::<1, 1>().unwrap().id();
            assert_eq!(new.index(), old.index());
            assert_ne!(new, old);
            assert_eq!(g.shape(old), Err(Error::ForeignNode(old)));
            assert_eq!(g.shape(new).map(|s| s.cols), Ok(1));
        }
    }

    /// Tags that agree in their low 16 or 32 bits are different graphs.
    #[test]
    fn tags_differ_in_their_high_bits() {
        let base = 0x1234;
        let a: Graph<f32, NoOp, 4, 8> = Graph::with_tag(base);
        let mut b: Graph<f32, NoOp, 4, 8> = Graph::with_tag(base + (1 << 16));
        let mut c: Graph<f32, NoOp, 4, 8> = Graph::with_tag(base + (1 << 32));
        let mut d: Graph<f32, NoOp, 4, 8> = Graph::with_tag(TAG_MAX);
        assert_eq!(a.tag(), base);
        let hb = b.placeholder::<1, 1>().unwrap().id();
        let hc = c.placeholder::<1, 1>().unwrap().id();
        let hd = d.placeholder::<1, 1>().unwrap().id();
        assert_eq!(hd.tag(), TAG_MAX);
        for (g, h) in [(&b, hc), (&c, hb), (&b, hd), (&d, hb)] {
            assert_eq!(g.shape(h), Err(Error::ForeignNode(h)));
        }
        let same_low = NodeId::new(base, 0);
        assert_eq!(b.shape(same_low), Err(Error::ForeignNode(same_low)));
        // the tag at the top of the range clears to a fresh one like any other
        d.clear();
        assert_ne!(d.tag(), TAG_MAX);
        assert_eq!(d.shape(hd), Err(Error::ForeignNode(hd)));
    }

    /// Tag 0 is no graph's: a handle with it names no node (not another graph's).
    #[test]
    fn a_handle_with_tag_0_is_unknown() {
        let mut g: Graph<f32, NoOp, 4, 8> = Graph::new();
        g.placeholder::<1, 1>().unwrap();
        g.placeholder::<1, 1>().unwrap();
        for h in [NodeId::from_raw(0), NodeId::from_raw(1), NodeId::new(0, 1)] {
            assert_eq!(g.shape(h), Err(Error::UnknownNode(h)));
        }
        let e: Graph<f32, NoOp, 4, 8> = Graph::empty();
        assert_eq!(
            e.shape(NodeId::from_raw(1)),
            Err(Error::UnknownNode(NodeId::from_raw(1)))
        );
    }
}
