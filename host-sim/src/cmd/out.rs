//! Standard output and standard error that cannot panic.
//!
//! `println!` panics when a write fails (a closed pipe, a full disk) and `let _ = writeln!`
//! hides the failure, so a command would exit 0 having written nothing. [`Out`] remembers the
//! first write error instead, writes nothing more after it, and [`Out::finish`] flushes and
//! turns the error into the command's result:
//!
//! - a closed pipe (`embedgrad-sim sensor-demo | head -1`) is [`Failure::ClosedPipe`]: the
//!   reader has what it wanted, so the command ends quietly with status 0, as other Unix tools
//!   do;
//! - any other error (`> /dev/full`) is [`Failure::Failed`]: one line on stderr, status 1.
//!
//! Rust's runtime ignores `SIGPIPE`, so a closed pipe arrives here as `EPIPE`.

use super::Failure;
use embedgrad_train::data::Evaluation;
use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

/// Standard output, with the first write error kept for [`Out::finish`].
pub struct Out {
    stdout: io::Stdout,
    error: Option<io::Error>,
}

impl Out {
    /// Standard output, no error yet.
    pub fn new() -> Self {
        Self {
            stdout: io::stdout(),
            error: None,
        }
    }

    /// Writes `args` and a newline, unless a write has failed before.
    pub fn line(&mut self, args: fmt::Arguments<'_>) {
        if self.error.is_none() {
            let mut lock = self.stdout.lock();
            if let Err(e) = lock.write_fmt(args).and_then(|()| lock.write_all(b"\n")) {
                self.error = Some(e);
            }
        }
    }

    /// Writes `text` as it is, unless a write has failed before.
    pub fn text(&mut self, text: &str) {
        if self.error.is_none() {
            if let Err(e) = self.stdout.lock().write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    /// Whether a write has failed: the caller may stop producing output early.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Flushes standard output and returns the first write error as a [`Failure`].
    pub fn finish(self) -> Result<(), Failure> {
        let result = match self.error {
            None => self.stdout.lock().flush(),
            Some(e) => Err(e),
        };
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                Failure::ClosedPipe
            } else {
                Failure::Failed(format!("cannot write to standard output: {e}"))
            }
        })
    }
}

/// Writes one line to standard error; a failure is ignored, since there is nowhere left to
/// report it (unlike `eprintln!`, which panics).
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut lock = io::stderr().lock();
    let _ = lock.write_fmt(args).and_then(|()| lock.write_all(b"\n"));
}

/// `training accuracy A% (C/N), held-out accuracy B% (C/N); T ms per epoch (S ms in all)`: the
/// middle of the summary of a data set's training.
pub fn accuracies_and_times<T>(
    train: &Evaluation<T>,
    test: &Evaluation<T>,
    per_epoch: Duration,
    total: Duration,
) -> String {
    format!(
        "training accuracy {:.2}% ({}/{}), held-out accuracy {:.2}% ({}/{}); {:.2} ms per epoch \
         ({:.0} ms in all)",
        100.0 * train.accuracy(),
        train.correct,
        train.total,
        100.0 * test.accuracy(),
        test.correct,
        test.total,
        per_epoch.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
    )
}
