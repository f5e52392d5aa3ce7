//! Parameters: which variable is which tensor (PyTorch's names and layouts), and loading a
//! parsed file into a graph.

use super::*;

/// How a variable's values lie in its tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layout {
    /// The tensor is the variable's `R × C`, row-major.
    Matrix,
    /// The tensor is the variable's `R × C` transposed, `C × R`: PyTorch's `nn.Linear`
    /// weight (`OUT × IN`) for the graph's `IN × OUT`.
    Transposed,
    /// The tensor is one-dimensional, `R · C` long: PyTorch's bias (`OUT`) for the graph's
    /// `1 × OUT`.
    Vector,
}

/// A parameter's name in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamName<'n> {
    /// The whole name.
    Plain(&'n str),
    /// `{prefix}{index}.{field}`, as a PyTorch module in a container names its tensors
    /// (`0.weight`, `classifier.2.bias`).
    Module {
        /// Everything before the index (`""`, or `"classifier."`).
        prefix: &'n str,
        /// The module's index.
        index: usize,
        /// The tensor's field (`"weight"`, `"bias"`).
        field: &'static str,
    },
}

impl ParamName<'_> {
    /// Whether the file's name `s` is this one.
    pub fn matches(&self, s: &str) -> bool {
        match *self {
            ParamName::Plain(p) => p == s,
            ParamName::Module {
                prefix,
                index,
                field,
            } => {
                let Some(rest) = s.strip_prefix(prefix) else {
                    return false;
                };
                let Some((i, f)) = rest.split_once('.') else {
                    return false;
                };
                f == field && digits_are(i, index)
            }
        }
    }

    pub(super) fn write_to(&self, w: &mut impl fmt::Write) -> fmt::Result {
        match *self {
            ParamName::Plain(p) => w.write_str(p),
            ParamName::Module {
                prefix,
                index,
                field,
            } => write!(w, "{prefix}{index}.{field}"),
        }
    }

    /// Whether a header can hold it as it is written (no escapes needed).
    pub(super) fn writable(&self) -> bool {
        match *self {
            ParamName::Plain(p) => !p.is_empty() && p != "__metadata__" && plain(p),
            ParamName::Module { prefix, field, .. } => plain(prefix) && plain(field),
        }
    }
}

/// Whether `s` is the decimal form of `n`, without leading zeros.
pub(super) fn digits_are(s: &str, n: usize) -> bool {
    let mut v: usize = 0;
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
        return false;
    }
    for c in s.bytes() {
        if !c.is_ascii_digit() {
            return false;
        }
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(usize::from(c - b'0')))
        {
            Some(v) => v,
            None => return false,
        };
    }
    v == n
}

impl fmt::Display for ParamName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// A variable and where it is in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'n> {
    /// Its name in the file.
    pub name: ParamName<'n>,
    /// The variable.
    pub node: NodeId,
    /// How its values lie in the tensor.
    pub layout: Layout,
}

impl<const B: usize, const IN: usize, const OUT: usize, const L: usize> Model<B, IN, OUT, L> {
    /// The variables named as in the state dict of the matching PyTorch `nn.Sequential`
    /// (each layer's `Linear` at [`Layer::torch_index`](crate::layers::Layer), its weight
    /// transposed, its bias a vector), each name after `prefix` (`""` for a bare
    /// `nn.Sequential`, `"net."` for one held as `self.net`). Flatten with
    /// `.as_flattened()` for [`load`] and [`write()`].
    pub fn params<'n>(&self, prefix: &'n str) -> ParamList<'n, L> {
        ParamList(self.layers.map(|l| {
            [
                Param {
                    name: ParamName::Module {
                        prefix,
                        index: l.torch_index,
                        field: "weight",
                    },
                    node: l.weight,
                    layout: Layout::Transposed,
                },
                Param {
                    name: ParamName::Module {
                        prefix,
                        index: l.torch_index,
                        field: "bias",
                    },
                    node: l.bias,
                    layout: Layout::Vector,
                },
            ]
        }))
    }
}

/// The parameters of a [`Model`]: two per layer (weight, bias); derefs to `[Param]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamList<'n, const L: usize>(pub [[Param<'n>; 2]; L]);

impl<'n, const L: usize> core::ops::Deref for ParamList<'n, L> {
    type Target = [Param<'n>];
    fn deref(&self) -> &[Param<'n>] {
        self.0.as_flattened()
    }
}

/// The file's shape for a variable of shape `r × c` in a layout.
pub(super) fn file_dims(layout: Layout, r: usize, c: usize) -> Dims {
    match layout {
        Layout::Matrix => Dims::new(&[r, c]),
        Layout::Transposed => Dims::new(&[c, r]),
        Layout::Vector => Dims::new(&[r * c]),
    }
}

/// The file's element for the variable's element `(i, j)` of `r × c`.
pub(super) fn file_index(layout: Layout, r: usize, c: usize, i: usize, j: usize) -> usize {
    match layout {
        Layout::Matrix | Layout::Vector => i * c + j,
        Layout::Transposed => j * r + i,
    }
}

/// How [`load`] treats a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoadOptions {
    /// Accept tensors the parameters do not name (default `false`: such a file is refused
    /// with [`Problem::Unexpected`], which catches a file of another model). Set it to load
    /// part of a state dict, say a backbone without its head.
    pub allow_extra: bool,
}

/// Copies a file's tensors into the parameters' variables, converting each element to `T`
/// (rounded to nearest) and each layout to the graph's.
///
/// Everything is checked before anything is written: every parameter's tensor is present,
/// has the shape its layout needs and holds finite values (as `T`: an F64 value too large for
/// an f32 is refused), and (unless [`LoadOptions::allow_extra`]) every tensor is some
/// parameter's. On an error the graph is unchanged.
///
/// # Errors
/// [`Problem::Missing`], [`Problem::WrongShape`], [`Problem::NonFinite`],
/// [`Problem::Unexpected`] with the tensor's name; [`Problem::Graph`] for a bad handle or a
/// parameter that is not a variable ([`Error::WrongNodeKind`]).
pub fn load<T: Scalar, O: Op<T>, const N: usize, const S: usize, const MAX: usize>(
    file: &SafeTensors<'_, MAX>,
    g: &mut Graph<T, O, N, S>,
    params: &[Param<'_>],
    options: LoadOptions,
) -> Result<(), WeightsError> {
    // Pass 1: check.
    for p in params {
        let name = Name::of(&p.name);
        let graph = |e| WeightsError {
            problem: Problem::Graph(e),
            tensor: name,
        };
        if !matches!(g.kind(p.node).map_err(graph)?, NodeKind::Variable) {
            return Err(graph(Error::WrongNodeKind(p.node)));
        }
        let shape = g.shape(p.node).map_err(graph)?;
        let t = file
            .tensors()
            .iter()
            .find(|t| p.name.matches(t.name))
            .ok_or(WeightsError {
                problem: Problem::Missing,
                tensor: name,
            })?;
        let expected = file_dims(p.layout, shape.rows, shape.cols);
        if t.dims != expected || t.dtype.size() == 0 {
            return Err(WeightsError::at(
                Problem::WrongShape {
                    expected,
                    found: t.dims,
                },
                t.name,
            ));
        }
        for (index, b) in t.data.exact_rows(t.dtype.size()).enumerate() {
            if !T::from_f64(t.dtype.decode(b)).is_finite() {
                return Err(WeightsError::at(Problem::NonFinite { index }, t.name));
            }
        }
    }
    if !options.allow_extra {
        if let Some(t) = file
            .tensors()
            .iter()
            .find(|t| !params.iter().any(|p| p.name.matches(t.name)))
        {
            return Err(WeightsError::at(Problem::Unexpected, t.name));
        }
    }
    // Pass 2: copy (every lookup below succeeded in pass 1).
    g.for_each_variable(|v| {
        let Some(p) = params.iter().find(|p| p.node == v.id) else {
            return Ok(());
        };
        let Some(t) = file.tensors().iter().find(|t| p.name.matches(t.name)) else {
            return Ok(());
        };
        let (r, c) = match p.layout {
            Layout::Transposed => match t.dims.as_slice() {
                &[c, r] => (r as usize, c as usize),
                _ => return Ok(()),
            },
            _ => {
                let len = v.value.len();
                let c = t.dims.as_slice().last().map_or(len, |&c| c as usize);
                (len / c.max(1), c)
            }
        };
        for (k, x) in v.value.iter_mut().enumerate() {
            let (i, j) = (k / c.max(1), k % c.max(1));
            if let Some(f) = t.get(file_index(p.layout, r, c, i, j)) {
                *x = T::from_f64(f);
            }
        }
        Ok(())
    })
}
