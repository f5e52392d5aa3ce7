//! numpy in and out: every array is copied, into a `Vec` on the way in and into a new numpy
//! array on the way out.

use numpy::{PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::EmbedgradError;

/// An array-like as numpy sees it: its shape and its entries as f64, row-major.
pub(crate) struct Array {
    /// numpy's shape.
    pub shape: Vec<usize>,
    /// The entries, row-major.
    pub data: Vec<f64>,
}

impl Array {
    /// The shape as `(rows, cols)` when the array is one: a 2-D array as it is, a 1-D array of
    /// `n` entries as `1 × n`, a 0-D array as `1 × 1`.
    pub fn matrix(&self) -> Option<(usize, usize)> {
        match self.shape.as_slice() {
            [] => Some((1, 1)),
            [n] => Some((1, *n)),
            [r, c] => Some((*r, *c)),
            _ => None,
        }
    }

    /// Whether the array fits a `rows × cols` node: the same 2-D shape, or as many entries in
    /// a 1-D (or 0-D) array when the node is a row or a column vector.
    pub fn fits(&self, rows: usize, cols: usize) -> bool {
        match self.shape.as_slice() {
            [r, c] => *r == rows && *c == cols,
            [n] => (rows == 1 || cols == 1) && *n == rows.saturating_mul(cols),
            [] => rows == 1 && cols == 1,
            _ => false,
        }
    }

    /// numpy's shape as text, `(2, 3)`.
    pub fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

/// A shape as numpy prints it: `(2, 3)`, `(5,)`, `()`.
pub(crate) fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// Reads an array-like (a numpy array, a list, a number) of booleans, integers or floats;
/// `what` names it in the error for any other dtype.
pub(crate) fn read(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    read_kinds(obj, what, "biuf")
}

/// As [`read`], floating-point dtypes only (weights).
pub(crate) fn read_float(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Array> {
    read_kinds(obj, what, "f")
}

fn read_kinds(obj: &Bound<'_, PyAny>, what: &str, kinds: &str) -> PyResult<Array> {
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("asarray", (obj,))?;
    let dtype = arr.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    if !kinds.contains(kind.as_str()) || kind.is_empty() {
        let name: String = dtype.getattr("name")?.extract()?;
        let wanted = if kinds == "f" {
            "a floating-point dtype"
        } else {
            "a numeric dtype"
        };
        return Err(EmbedgradError::new_err(format!(
            "{what}: dtype {name}, needs {wanted}"
        )));
    }
    let arr = np.call_method1("ascontiguousarray", (arr, "float64"))?;
    let arr = arr
        .downcast::<PyArrayDyn<f64>>()
        .map_err(|e| EmbedgradError::new_err(format!("{what}: {e}")))?;
    let ro = arr.readonly();
    let shape = ro.shape().to_vec();
    let data = ro
        .as_slice()
        .map_err(|e| EmbedgradError::new_err(format!("{what}: {e}")))?
        .to_vec();
    Ok(Array { shape, data })
}

/// A new `rows × cols` numpy array of f64.
pub(crate) fn f64_matrix<'py>(
    py: Python<'py>,
    data: &[f64],
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    PyArray1::from_slice(py, data).reshape([rows, cols])
}

/// A new numpy array of f32 of the given shape (1-D or 2-D).
pub(crate) fn f32_array<'py>(
    py: Python<'py>,
    data: Vec<f32>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let a = PyArray1::from_vec(py, data);
    match shape {
        [_] => Ok(a.into_any()),
        [r, c] => Ok(a.reshape([*r, *c])?.into_any()),
        _ => Err(EmbedgradError::new_err(format!(
            "unsupported shape {}",
            shape_text(shape)
        ))),
    }
}
