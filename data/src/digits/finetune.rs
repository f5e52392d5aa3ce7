//! Fine-tuning the digits model to a writer it has not seen.
//!
//! A model trained on the UCI digits (see [`RECIPE`](super::RECIPE)) ships in flash as a
//! safetensors file; on the device it adapts to one user's hand. That hand is simulated here,
//! deterministically, by distorting every image the same way ([`Writer`]): the pre-trained
//! model loses much of its accuracy on it, and a few epochs of fine-tuning on that writer's
//! training rows ([`FINE_TUNE`]) win most of it back — on the held-out rows in the same hand.
//!
//! ```
//! use embedgrad_data::digits::{self, Part, Trainer, Writer};
//! use embedgrad_ops::prelude::*;
//! use embedgrad_train::layers::FineTune;
//!
//! const B: usize = digits::BATCH;
//! const S: usize = 297 * B + 4822;
//! let mut g: Box<StdGraph<f32, { digits::NODES }, S>> = Box::new(StdGraph::new());
//! let mut t: Box<Trainer<f32, B>> = Box::new(Trainer::new(&mut g, &digits::RECIPE)?);
//! for _ in 0..3 {
//!     t.epoch(&mut g, |f| f())?; // a short pre-training
//! }
//! t.set_writer(Writer::Unseen);
//! let before = t.evaluate(&mut g, Part::Test)?.accuracy();
//! t.net().fine_tune(&mut g, FineTune::LastLayer)?;
//! t.restart(&digits::FINE_TUNE)?;
//! for _ in 0..digits::FINE_TUNE.epochs {
//!     t.epoch(&mut g, |f| f())?;
//! }
//! let after = t.evaluate(&mut g, Part::Test)?.accuracy();
//! assert!(after > before + 0.05, "{before} → {after}");
//! # Ok::<(), embedgrad_core::Error>(())
//! ```

use super::Recipe;
use embedgrad_core::Scalar;
use embedgrad_train::Schedule;

/// Image side (8 pixels).
const SIDE: usize = 8;

/// Whose hand the digits are seen in: the data set's own, or a distortion of it applied to
/// every image alike (a writer the pre-trained model has not seen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Writer {
    /// The images as they are.
    Original,
    /// Slanted like italics: rows shifted by 2, 1, 1, 0, 0, −1, −1, −2 pixels from top to
    /// bottom (top to the right).
    Slanted,
    /// A thicker pen: each pixel the brightest of itself and its left and upper neighbours.
    Thick,
    /// Shifted one pixel to the right and one down.
    Shifted,
    /// Slanted, then thick: the demo's unseen writer.
    Unseen,
}

/// The per-row shift of [`Writer::Slanted`].
const SLANT: [i32; SIDE] = [2, 1, 1, 0, 0, -1, -1, -2];

impl Writer {
    /// Every writer, [`Writer::Original`] first.
    pub const ALL: [Writer; 5] = [
        Writer::Original,
        Writer::Slanted,
        Writer::Thick,
        Writer::Shifted,
        Writer::Unseen,
    ];

    /// The writer's name on the command line (`original`, `slanted`, `thick`, `shifted`,
    /// `unseen`).
    pub const fn name(self) -> &'static str {
        match self {
            Writer::Original => "original",
            Writer::Slanted => "slanted",
            Writer::Thick => "thick",
            Writer::Shifted => "shifted",
            Writer::Unseen => "unseen",
        }
    }

    /// The writer of a name ([`Writer::name`]).
    pub fn from_name(s: &str) -> Option<Self> {
        Writer::ALL.into_iter().find(|w| w.name() == s)
    }

    /// Redraws one image (64 values, row-major 8 × 8) in this writer's hand, in place.
    /// Pixels moved in from outside the image are 0. Values are only moved and compared, never
    /// computed: the result is exact in any scalar type.
    pub fn apply<T: Scalar>(self, image: &mut [T; SIDE * SIDE]) {
        match self {
            Writer::Original => {}
            Writer::Slanted => slant(image),
            Writer::Thick => thicken(image),
            Writer::Shifted => shift(image, 1, 1),
            Writer::Unseen => {
                slant(image);
                thicken(image);
            }
        }
    }
}

/// The pixel at (`r`, `c`), 0 outside the image.
fn at<T: Scalar>(image: &[T; SIDE * SIDE], r: i32, c: i32) -> T {
    if (0..SIDE as i32).contains(&r) && (0..SIDE as i32).contains(&c) {
        image
            .get(r as usize * SIDE + c as usize)
            .copied()
            .unwrap_or(T::ZERO)
    } else {
        T::ZERO
    }
}

fn slant<T: Scalar>(image: &mut [T; SIDE * SIDE]) {
    let src = *image;
    for (k, p) in image.iter_mut().enumerate() {
        let (r, c) = ((k / SIDE) as i32, (k % SIDE) as i32);
        let s = SLANT.get(k / SIDE).copied().unwrap_or(0);
        *p = at(&src, r, c - s);
    }
}

fn shift<T: Scalar>(image: &mut [T; SIDE * SIDE], right: i32, down: i32) {
    let src = *image;
    for (k, p) in image.iter_mut().enumerate() {
        let (r, c) = ((k / SIDE) as i32, (k % SIDE) as i32);
        *p = at(&src, r - down, c - right);
    }
}

fn thicken<T: Scalar>(image: &mut [T; SIDE * SIDE]) {
    let src = *image;
    for (k, p) in image.iter_mut().enumerate() {
        let (r, c) = ((k / SIDE) as i32, (k % SIDE) as i32);
        let m = at(&src, r, c);
        let l = at(&src, r, c - 1);
        let u = at(&src, r - 1, c);
        *p = if l > m { l } else { m };
        if u > *p {
            *p = u;
        }
    }
}

/// The fine-tuning recipe of `embedgrad-sim finetune digits` and of the fine-tuning firmware:
/// 5 epochs of [`BATCH`](super::BATCH)-row mini-batches of the writer's training rows, Adam
/// at a constant 0.01.
pub const FINE_TUNE: Recipe = Recipe {
    epochs: 5,
    schedule: Schedule::Constant { lr: 0.01 },
    seed: 7,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distortions_move_pixels_as_documented() {
        let mut img = [0.0f64; 64];
        img[3 * 8 + 4] = 1.0; // row 3, column 4
        img[0] = 0.5; // row 0, column 0
        let mut s = img;
        Writer::Slanted.apply(&mut s);
        assert_eq!((s[3 * 8 + 4], s[2]), (1.0, 0.5)); // row 3 stays, row 0 moves right by 2
        assert_eq!(s.iter().filter(|&&v| v != 0.0).count(), 2);
        let mut t = img;
        Writer::Thick.apply(&mut t);
        for k in [3 * 8 + 4, 3 * 8 + 5, 4 * 8 + 4] {
            assert_eq!(t[k], 1.0, "{k}");
        }
        assert_eq!((t[0], t[1], t[8]), (0.5, 0.5, 0.5));
        assert_eq!(t.iter().filter(|&&v| v != 0.0).count(), 6);
        let mut h = img;
        Writer::Shifted.apply(&mut h);
        assert_eq!((h[4 * 8 + 5], h[9]), (1.0, 0.5));
        let mut o = img;
        Writer::Original.apply(&mut o);
        assert_eq!(o, img);
        let mut u = img;
        Writer::Unseen.apply(&mut u);
        let mut v = img;
        Writer::Slanted.apply(&mut v);
        Writer::Thick.apply(&mut v);
        assert_eq!(u, v);
        for w in Writer::ALL {
            assert_eq!(Writer::from_name(w.name()), Some(w));
        }
    }
}
