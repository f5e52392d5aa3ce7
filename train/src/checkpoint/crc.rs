//! CRC-32/IEEE, the checksum of a record and the hash under its fingerprints.
//!
//! Written here rather than taken from the `crc` crate, which is kept and no_std, for its
//! size: `crc`'s smallest table (`Table<1>`, a byte at a time) is 1 KiB of flash, its
//! `Table<16>` 16 KiB, and its table-free `NoTable` goes bit by bit (eight shift-and-xor steps
//! a byte). This one goes four bits at a time through a 16-entry table built at compile time:
//! 64 bytes of flash, two steps a byte, no panic path. It is the same CRC
//! (CRC-32/ISO-HDLC, as in zlib, PNG and Ethernet); the tests check it against `crc` (a
//! dev-dependency) on random inputs of random lengths, fed whole and in pieces, and on the
//! standard check value.

/// CRC-32/IEEE (reflected polynomial `0xEDB88320`) four bits at a time: a 64-byte table.
// Indexing here runs at compile time: out of bounds would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const CRC_NIBBLES: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// A running CRC-32 (IEEE 802.3, as in zlib, PNG and Ethernet: reflected polynomial
/// `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`).
///
/// ```
/// use embedgrad_train::checkpoint::Crc32;
/// let mut c = Crc32::new();
/// c.update(b"1234");
/// c.update(b"56789");
/// assert_eq!(c.finish(), 0xCBF4_3926);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    /// A CRC over no bytes yet.
    pub const fn new() -> Self {
        Self(0xFFFF_FFFF)
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c ^= u32::from(b);
            c = (c >> 4) ^ CRC_NIBBLES.get((c & 0xF) as usize).copied().unwrap_or(0);
            c = (c >> 4) ^ CRC_NIBBLES.get((c & 0xF) as usize).copied().unwrap_or(0);
        }
        self.0 = c;
    }

    /// The CRC of everything fed so far.
    pub const fn finish(&self) -> u32 {
        !self.0
    }
}

/// The CRC-32 of a byte slice (see [`Crc32`]).
///
/// ```
/// assert_eq!(embedgrad_train::checkpoint::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(bytes);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SplitMix64;
    use ::crc::{Crc, CRC_32_ISO_HDLC};

    /// The `crc` crate's CRC-32/ISO-HDLC, byte-wise with its 1 KiB table.
    const REFERENCE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

    #[test]
    fn standard_check_value() {
        assert_eq!(REFERENCE.checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    /// Random bytes of random lengths (0 to 2 KiB, every length up to 64 several times),
    /// whole and split at a random point, against the `crc` crate.
    #[test]
    fn agrees_with_the_crc_crate() {
        let mut rng = SplitMix64::new(0xC0FF_EE32);
        let mut buf = [0u8; 2048];
        // Miri interprets every table lookup: fewer cases there.
        let cases = if cfg!(miri) { 40 } else { 3000u64 };
        for case in 0..cases {
            let len = if case < 650 {
                (case % 65) as usize
            } else {
                rng.below(buf.len() as u64 + 1) as usize
            };
            let data = &mut buf[..len];
            for b in data.iter_mut() {
                *b = rng.next_u64() as u8;
            }
            let want = REFERENCE.checksum(data);
            assert_eq!(crc32(data), want, "length {len}");
            let cut = rng.below(len as u64 + 1) as usize;
            let mut c = Crc32::new();
            c.update(&data[..cut]);
            c.update(&data[cut..]);
            assert_eq!(c.finish(), want, "length {len} split at {cut}");
        }
    }

    /// Every single byte value, and runs of zeros and ones (the flash's erased state).
    #[test]
    fn every_byte_and_erased_flash() {
        for b in 0..=255u8 {
            assert_eq!(crc32(&[b]), REFERENCE.checksum(&[b]), "byte {b:#04x}");
        }
        for len in [0, 1, 4, 63, 64, 65, 256, 1000] {
            let zeros = [0u8; 1000];
            let ones = [0xFFu8; 1000];
            assert_eq!(crc32(&zeros[..len]), REFERENCE.checksum(&zeros[..len]));
            assert_eq!(crc32(&ones[..len]), REFERENCE.checksum(&ones[..len]));
        }
    }
}
