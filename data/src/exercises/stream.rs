//! Streaming classification: a sliding window over a live [`SampleSource`] of 6-channel
//! frames, kept **in the graph's own input placeholder**.
//!
//! **What is copied.** Each sample is read by the source straight into its slot of the
//! placeholder (`Graph::feed_with`): no buffer of its own, no copy — the source writes the
//! 6 values once, where the network reads them (the feed then scans the 384 values for
//! finiteness, a read). Every `hop` samples the window is full: the network runs once
//! (`Graph::run` of the logits), and the window then moves by `hop` steps *inside the
//! placeholder* — one `copy_within` of `(64 − hop)·6` values — so that the next `hop`
//! samples land at its end. Per inference that is `(64 − hop)·6` scalars moved (288 for the
//! default hop of 16); per sample nothing. The graph's layout is time-major, and a ring
//! buffer would hand the convolutions a rotated window, so the move is the price of keeping
//! the window contiguous; it is `1 − hop/64` of one window per inference, never a copy of
//! the whole window per sample.
//!
//! [`Replay`] is a source that plays windows of the data set back frame by frame, decoded as
//! [`TABLE`](super::TABLE) decodes them (what the
//! simulator and the streaming firmware feed the window with).

#[cfg(test)]
use super::TABLE;
use super::{CHANNELS, CLASSES, FEATURES, TIMESTEPS};
use embedgrad_core::{Error, Graph, NodeId, Op, Scalar};
use embedgrad_train::source::SampleSource;

/// A sliding window of [`TIMESTEPS`] frames in the input placeholder of a one-row graph,
/// classified every `hop` frames.
#[derive(Clone, Copy, Debug)]
pub struct SlidingWindow {
    x: NodeId,
    logits: NodeId,
    hop: usize,
    filled: usize,
    samples: u64,
}

/// What one [`SlidingWindow::push`] did.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Push {
    /// The frame joined the window, which holds `filled` of 64.
    Buffered {
        /// Frames in the window.
        filled: usize,
    },
    /// The frame completed the window and the network classified it.
    Classified {
        /// The predicted class.
        class: usize,
        /// Frames read so far, this one included (the window ends with frame `sample − 1`).
        sample: u64,
    },
}

impl SlidingWindow {
    /// A window over the placeholder `x` (`1 × 384`) of a graph whose class scores are
    /// `logits` (`1 × 7`), classified every `hop` frames (`1..=64`; 64: windows side by side).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `hop` outside `1..=64`; [`Error::ShapeMismatch`] for
    /// nodes of other shapes; bad handles.
    pub fn new<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        g: &Graph<T, O, N, S>,
        x: NodeId,
        logits: NodeId,
        hop: usize,
    ) -> Result<Self, Error> {
        if hop == 0 || hop > TIMESTEPS {
            return Err(Error::InvalidArgument);
        }
        for (id, cols) in [(x, FEATURES), (logits, CLASSES)] {
            let found = g.shape(id)?;
            let expected = embedgrad_core::Shape::new(1, cols);
            if found != expected {
                return Err(Error::ShapeMismatch { expected, found });
            }
        }
        Ok(Self {
            x,
            logits,
            hop,
            filled: 0,
            samples: 0,
        })
    }

    /// Frames in the window now.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Frames read so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Reads one frame from `source` into the window's next slot in the placeholder and,
    /// when that fills the window, classifies it and moves the window by `hop` steps.
    ///
    /// # Errors
    /// The source's errors (the frame is dropped; the window is as before the call, and the
    /// next read fills the same slot); [`Error::LengthMismatch`] when the source's `dim()`
    /// is not 6; graph errors of the run.
    pub fn push<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
        &mut self,
        g: &mut Graph<T, O, N, S>,
        source: &mut (impl SampleSource<T> + ?Sized),
    ) -> Result<Push, Error> {
        if source.dim() != CHANNELS {
            return Err(Error::LengthMismatch {
                expected: CHANNELS,
                found: source.dim(),
            });
        }
        let at = self.filled * CHANNELS;
        let mut read = Err(Error::InvalidArgument);
        g.feed_with(self.x, |v| {
            if let Some(slot) = v.get_mut(at..at + CHANNELS) {
                read = source.read_sample(slot);
                if read.is_err() {
                    // Unspecified after a failed read: zeros, so the feed stays finite.
                    slot.fill(T::ZERO);
                }
            }
        })?;
        read?;
        self.samples = self.samples.saturating_add(1);
        self.filled += 1;
        if self.filled < TIMESTEPS {
            return Ok(Push::Buffered {
                filled: self.filled,
            });
        }
        g.run(self.logits)?;
        let class = embedgrad_train::argmax(g.value_slice(self.logits)?);
        let keep = (TIMESTEPS - self.hop) * CHANNELS;
        g.feed_with(self.x, |v| v.copy_within(self.hop * CHANNELS.., 0))?;
        self.filled = keep / CHANNELS;
        Ok(Push::Classified {
            class,
            sample: self.samples,
        })
    }
}

/// Plays the windows `rows` of the data set back one frame (6 values, decoded as
/// [`TABLE`](super::TABLE) decodes them) per read, window after window, as a sensor would deliver them;
/// labelled with each window's exercise. After the last frame every read fails with
/// [`Error::Source`].
#[derive(Clone, Copy, Debug)]
pub struct Replay<'a> {
    rows: &'a [u16],
    at: usize,
}

impl<'a> Replay<'a> {
    /// A replay of `rows` from their first frame.
    pub const fn new(rows: &'a [u16]) -> Self {
        Self { rows, at: 0 }
    }

    /// Frames read so far.
    pub fn position(&self) -> usize {
        self.at
    }

    /// Frames in all.
    pub fn len(&self) -> usize {
        self.rows.len() * TIMESTEPS
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl<T: Scalar> SampleSource<T> for Replay<'_> {
    fn dim(&self) -> usize {
        CHANNELS
    }

    fn read_sample(&mut self, features: &mut [T]) -> Result<Option<u8>, Error> {
        if features.len() != CHANNELS {
            return Err(Error::LengthMismatch {
                expected: CHANNELS,
                found: features.len(),
            });
        }
        let (w, t) = (self.at / TIMESTEPS, self.at % TIMESTEPS);
        let row = usize::from(*self.rows.get(w).ok_or(Error::Source)?);
        let start = row
            .checked_mul(FEATURES)
            .and_then(|r| r.checked_add(t * CHANNELS))
            .ok_or(Error::Source)?;
        let raw = super::WINDOWS
            .get(start..start + CHANNELS)
            .ok_or(Error::Source)?;
        let (scale, offset) = (T::from_f64(1.0 / 16.0), T::ZERO);
        for (f, &r) in features.iter_mut().zip(raw) {
            *f = T::from_f64(f64::from(r)) * scale + offset;
        }
        self.at += 1;
        Ok(super::LABELS.get(row).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercises::{models, split, SAMPLES};
    use embedgrad_ops::StdGraph;
    use embedgrad_train::SplitMix64;

    #[test]
    fn replay_decodes_as_the_table() {
        let rows = [5u16, 977];
        let mut r = Replay::new(&rows);
        let mut want = [0f32; FEATURES];
        for &row in &rows {
            TABLE.row_into(usize::from(row), &mut want).unwrap();
            for t in 0..TIMESTEPS {
                let mut f = [0f32; CHANNELS];
                let label = r.read_sample(&mut f).unwrap();
                assert_eq!(
                    label,
                    crate::exercises::LABELS.get(usize::from(row)).copied()
                );
                assert_eq!(&f[..], &want[t * CHANNELS..(t + 1) * CHANNELS]);
            }
        }
        assert_eq!(r.read_sample(&mut [0f32; CHANNELS]), Err(Error::Source));
    }

    #[test]
    fn the_window_classifies_what_the_whole_window_gives() {
        const S: usize = models::cnn_capacity(1).1;
        let mut g: Box<StdGraph<f64, { models::CNN_NODES }, S>> = Box::new(StdGraph::new());
        let net = models::build_cnn::<f64, _, { models::CNN_NODES }, S, 1>(
            &mut g,
            &mut SplitMix64::new(3),
        )
        .unwrap();
        let mut idx = [0u16; SAMPLES];
        let (_, test) = split(&mut idx).unwrap();
        let rows = &test[..3];
        // Each hop-16 window against the same 64 frames fed whole.
        let frames: Vec<f64> = rows
            .iter()
            .flat_map(|&r| {
                let mut v = [0f64; FEATURES];
                TABLE.row_into(usize::from(r), &mut v).unwrap();
                v
            })
            .collect();
        let mut w = SlidingWindow::new(&g, net.x.id(), net.logits.id(), 16).unwrap();
        let mut replay = Replay::new(rows);
        let mut classes = Vec::new();
        while let Ok(p) = w.push(&mut g, &mut replay) {
            if let Push::Classified { class, sample } = p {
                classes.push((class, sample));
            }
        }
        assert_eq!(classes.len(), (3 * 64 - 64) / 16 + 1);
        for &(class, sample) in &classes {
            let end = sample as usize * CHANNELS;
            g.feed_slice(net.x.id(), &frames[end - FEATURES..end])
                .unwrap();
            let scores = g.eval(net.logits).unwrap();
            assert_eq!(
                class,
                embedgrad_train::argmax(scores.as_slice()),
                "at {sample}"
            );
        }
        assert!(SlidingWindow::new(&g, net.x.id(), net.logits.id(), 0).is_err());
        assert!(SlidingWindow::new(&g, net.logits.id(), net.x.id(), 1).is_err());
    }
}
