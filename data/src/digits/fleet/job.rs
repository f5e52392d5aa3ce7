//! The job line a gateway hands a device client: `client clients round [cut_after_epoch]`.
//!
//! It is outside input — a file the gateway writes and the firmware reads — so [`Job::parse`]
//! takes any bytes, never panics, and refuses what is not a job with a [`JobError`] that names
//! the field and, where there is one, the value (the `job_line` fuzz target drives it).
//!
//! ```
//! use embedgrad_data::digits::fleet::{Job, JobError};
//!
//! let job = Job::parse(b"3 10 7\n")?;
//! assert_eq!((job.client, job.clients, job.round, job.cut_after_epoch), (3, 10, 7, None));
//! assert_eq!(Job::parse(b"3 10 7 2")?.cut_after_epoch, Some(2));
//! assert_eq!(
//!     Job::parse(b"3 3 7"),
//!     Err(JobError::ClientOutOfRange { client: 3, clients: 3 })
//! );
//! assert_eq!(
//!     Job::parse(b"3 3 7").unwrap_err().to_string(),
//!     "client 3 must be below clients (3)"
//! );
//! # Ok::<(), JobError>(())
//! ```

use super::LOCAL;
use core::fmt;

/// One round of one client: what the gateway asks a device to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Job {
    /// This client's number, below `clients`.
    pub client: u32,
    /// Clients in the fleet, `1..=65535`.
    pub clients: u32,
    /// The federated round (any `u32`).
    pub round: u32,
    /// Stop right after checkpointing this local epoch (1-based, `1..=LOCAL.epochs`): a
    /// simulated power cut.
    pub cut_after_epoch: Option<u32>,
}

/// Why a job line was refused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JobError {
    /// The bytes are not text (not UTF-8).
    NotText,
    /// A required field is missing (`"client"`, `"clients"`, `"round"`).
    Missing(&'static str),
    /// A field is not a decimal `u32` (`"client"`, …, `"cut_after_epoch"`).
    NotANumber(&'static str),
    /// More than four fields.
    TooManyFields,
    /// `clients` is 0 or above 65,535.
    ClientsOutOfRange(u32),
    /// `client` is not below `clients`.
    ClientOutOfRange {
        /// The client given.
        client: u32,
        /// The fleet's size given.
        clients: u32,
    },
    /// `cut_after_epoch` is not in `1..=epochs`.
    CutOutOfRange {
        /// The epoch given.
        epoch: u32,
        /// The local epochs of a round ([`LOCAL`]).
        epochs: u32,
    },
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::NotText => f.write_str("the job line is not text"),
            JobError::Missing(field) => write!(f, "no {field}"),
            JobError::NotANumber(field) => write!(f, "{field} is not a decimal number"),
            JobError::TooManyFields => f.write_str("more than four fields"),
            JobError::ClientsOutOfRange(n) => write!(f, "clients {n} must be in 1..=65535"),
            JobError::ClientOutOfRange { client, clients } => {
                write!(f, "client {client} must be below clients ({clients})")
            }
            JobError::CutOutOfRange { epoch, epochs } => {
                write!(f, "cut_after_epoch {epoch} must be in 1..={epochs}")
            }
        }
    }
}

impl core::error::Error for JobError {}

impl Job {
    /// Parses `client clients round [cut_after_epoch]`: decimal `u32`s separated by ASCII
    /// spaces or tabs, with an optional line end.
    ///
    /// # Errors
    /// [`JobError`]: the first thing wrong with the line, in the order of the fields.
    pub fn parse(line: &[u8]) -> Result<Job, JobError> {
        let text = core::str::from_utf8(line).map_err(|_| JobError::NotText)?;
        let mut fields = text.split_ascii_whitespace();
        let mut next = |name: &'static str| -> Result<Option<u32>, JobError> {
            match fields.next() {
                None => Ok(None),
                Some(f) => number(f).map(Some).ok_or(JobError::NotANumber(name)),
            }
        };
        let client = next("client")?.ok_or(JobError::Missing("client"))?;
        let clients = next("clients")?.ok_or(JobError::Missing("clients"))?;
        let round = next("round")?.ok_or(JobError::Missing("round"))?;
        let cut_after_epoch = next("cut_after_epoch")?;
        if fields.next().is_some() {
            return Err(JobError::TooManyFields);
        }
        if clients == 0 || clients > 65535 {
            return Err(JobError::ClientsOutOfRange(clients));
        }
        if client >= clients {
            return Err(JobError::ClientOutOfRange { client, clients });
        }
        if let Some(epoch) = cut_after_epoch {
            if epoch == 0 || epoch > LOCAL.epochs {
                return Err(JobError::CutOutOfRange {
                    epoch,
                    epochs: LOCAL.epochs,
                });
            }
        }
        Ok(Job {
            client,
            clients,
            round,
            cut_after_epoch,
        })
    }
}

/// A decimal `u32`: ASCII digits only (no sign, unlike `str::parse`), no overflow.
fn number(field: &str) -> Option<u32> {
    if field.is_empty() {
        return None;
    }
    field.bytes().try_fold(0u32, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u32::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_jobs_and_line_ends() {
        let want = Job {
            client: 3,
            clients: 10,
            round: 7,
            cut_after_epoch: None,
        };
        for line in [&b"3 10 7"[..], b"3 10 7\n", b"3\t10  7\r\n", b" 3 10 7 "] {
            assert_eq!(Job::parse(line), Ok(want), "{line:?}");
        }
        assert_eq!(
            Job::parse(b"0 1 4294967295 5"),
            Ok(Job {
                client: 0,
                clients: 1,
                round: u32::MAX,
                cut_after_epoch: Some(5)
            })
        );
        assert_eq!(Job::parse(b"65534 65535 0").map(|j| j.client), Ok(65534));
    }

    #[test]
    fn refuses_what_is_not_a_job_with_the_field_and_value() {
        let cases: [(&[u8], JobError); 14] = [
            (b"", JobError::Missing("client")),
            (b"3", JobError::Missing("clients")),
            (b"3 10", JobError::Missing("round")),
            (b"x 10 7", JobError::NotANumber("client")),
            (b"3 +10 7", JobError::NotANumber("clients")),
            (b"3 10 -7", JobError::NotANumber("round")),
            (b"3 10 4294967296", JobError::NotANumber("round")),
            (b"3 10 7 two", JobError::NotANumber("cut_after_epoch")),
            (b"3 10 7 2 1", JobError::TooManyFields),
            (b"0 0 7", JobError::ClientsOutOfRange(0)),
            (b"0 65536 7", JobError::ClientsOutOfRange(65536)),
            (
                b"10 10 7",
                JobError::ClientOutOfRange {
                    client: 10,
                    clients: 10,
                },
            ),
            (
                b"3 10 7 0",
                JobError::CutOutOfRange {
                    epoch: 0,
                    epochs: 5,
                },
            ),
            (b"\xff 10 7", JobError::NotText),
        ];
        for (line, want) in cases {
            assert_eq!(Job::parse(line), Err(want), "{line:?}");
        }
        assert_eq!(
            Job::parse(b"3 10 7 6").unwrap_err().to_string(),
            "cut_after_epoch 6 must be in 1..=5"
        );
        assert_eq!(Job::parse(b"3 10").unwrap_err().to_string(), "no round");
    }

    #[test]
    fn numbers_are_plain_decimal() {
        assert_eq!(number("0"), Some(0));
        assert_eq!(number("007"), Some(7));
        assert_eq!(number("4294967295"), Some(u32::MAX));
        for bad in [
            "",
            "4294967296",
            "99999999999",
            "+1",
            "-0",
            "1e3",
            "٣",
            "0x10",
        ] {
            assert_eq!(number(bad), None, "{bad}");
        }
        // Every value written and read back.
        for n in [1u32, 9, 10, 99, 65535, 1 << 24, u32::MAX - 1] {
            let mut buf = [0u8; 10];
            let mut at = buf.len();
            let mut v = n;
            loop {
                at -= 1;
                buf[at] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            let s = core::str::from_utf8(&buf[at..]).unwrap();
            assert_eq!(number(s), Some(n));
        }
    }
}
