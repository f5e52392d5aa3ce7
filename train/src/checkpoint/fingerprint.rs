//! Fingerprints: a CRC-32 over a tagged byte stream that says which model and which optimizer
//! a record belongs to.

use super::*;

/// Builds a 32-bit fingerprint (a CRC-32 over a tagged byte stream) of a model or an
/// optimizer: what a record is matched against on restore.
///
/// An optimizer of your own implements [`Optimizer::fingerprint`] with it, from a name of its
/// kind and its fixed settings:
///
/// ```
/// use embedgrad_train::checkpoint::Fingerprint;
/// let a = Fingerprint::new(b"my-rmsprop").scalar(0.9f32).scalar(1e-8f32).finish();
/// let b = Fingerprint::new(b"my-rmsprop").scalar(0.99f32).scalar(1e-8f32).finish();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(Crc32);

impl Fingerprint {
    /// A fingerprint of the kind `kind` (for example `b"adam"`), with nothing else in it yet.
    #[must_use]
    pub fn new(kind: &[u8]) -> Self {
        Self(Crc32::new()).bytes(kind)
    }

    /// Adds bytes (with their length, so that `"ab" + "c"` and `"a" + "bc"` differ).
    #[must_use]
    pub fn bytes(mut self, b: &[u8]) -> Self {
        self.0.update(&(b.len() as u32).to_le_bytes());
        self.0.update(b);
        self
    }

    /// Adds a number.
    #[must_use]
    pub fn u32(mut self, v: u32) -> Self {
        self.0.update(&v.to_le_bytes());
        self
    }

    /// Adds a flag.
    #[must_use]
    pub fn flag(mut self, v: bool) -> Self {
        self.0.update(&[u8::from(v)]);
        self
    }

    /// Adds a scalar setting, by its exact value (as the bits of an `f64`).
    #[must_use]
    pub fn scalar<T: Scalar>(mut self, v: T) -> Self {
        self.0.update(&v.to_f64().to_bits().to_le_bytes());
        self
    }

    /// The fingerprint.
    pub const fn finish(&self) -> u32 {
        self.0.finish()
    }
}

/// The fingerprint of a model a record stores and restore compares: the scalar type (`f32`
/// or `f64`), and for every node in insertion order its kind (placeholder, variable, constant
/// or the op's [`name`](Op::name)) and shape — all of it for variables and constants, the
/// columns only for placeholders and ops, whose rows are the batch size (so a model trained
/// in batches of 16 restores into the same network built for single samples).
///
/// Nodes have no names. What the public graph does not show — which inputs an op takes, and
/// op parameters such as a `scale` factor or a `leaky_relu` slope — is not part of it: two
/// models that differ only there have the same fingerprint.
///
/// ```
/// use embedgrad_core::Matrix;
/// use embedgrad_ops::prelude::*;
/// use embedgrad_train::checkpoint::model_fingerprint;
/// let mut a: StdGraph<f32, 4, 32> = StdGraph::new();
/// let w = a.variable(&Matrix::new([[1.0f32, 2.0]]))?;
/// a.tanh(w)?;
/// let mut b: StdGraph<f32, 4, 32> = StdGraph::new();
/// let w = b.variable(&Matrix::new([[1.0f32, 2.0]]))?;
/// b.sigmoid(w)?; // same shapes, another model
/// assert_ne!(model_fingerprint(&a)?, model_fingerprint(&b)?);
/// # Ok::<(), embedgrad_core::Error>(())
/// ```
///
/// # Errors
/// Only if the graph fails to describe one of its own nodes (never for a well-formed graph).
pub fn model_fingerprint<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
) -> Result<u32, Error> {
    let mut f = Fingerprint::new(b"embedgrad-model")
        .u32(T::BYTES as u32)
        .bytes(T::NAME.as_bytes())
        .u32(g.len() as u32);
    for i in 0..g.len() {
        let id = g.node_at(i).ok_or(Error::InvalidArgument)?;
        let s = g.shape(id)?;
        let (rows, cols) = (s.rows as u32, s.cols as u32);
        f = match g.kind(id)? {
            NodeKind::Placeholder => f.u32(1).u32(cols),
            NodeKind::Variable => f.u32(2).u32(rows).u32(cols),
            NodeKind::Constant => f.u32(3).u32(rows).u32(cols),
            NodeKind::Op(op) => f.u32(4).bytes(op.name().as_bytes()).u32(cols),
        };
    }
    Ok(f.finish())
}

/// The optimizer fingerprint a record stores: [`Optimizer::fingerprint`] as it is when every
/// variable trains; with some frozen, combined with which ones are — the optimizer's state is
/// laid out over the trainable variables, so state saved with other variables frozen would
/// land on the wrong ones.
pub(super) fn state_fingerprint<T: Scalar, O: Op<T>, const N: usize, const S: usize>(
    g: &Graph<T, O, N, S>,
    opt: &impl Optimizer<T>,
) -> Result<u32, Error> {
    let base = opt.fingerprint();
    let mut frozen = false;
    for id in g.variables() {
        frozen |= !g.is_trainable(id)?;
    }
    if !frozen {
        return Ok(base);
    }
    let mut f = Fingerprint::new(b"embedgrad-frozen").u32(base);
    for id in g.variables() {
        f = f.flag(g.is_trainable(id)?);
    }
    Ok(f.finish())
}
