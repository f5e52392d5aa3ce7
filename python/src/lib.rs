//! embedgrad from Python: the native module `embedgrad._native`, wrapped by the pure-Python
//! package `embedgrad` (see `pysrc/embedgrad/`).
//!
//! Everything here is a thin layer over the no_std crates: the digits model and its
//! [`Trainer`](embedgrad_data::digits::Trainer), the fleet
//! [`Client`](embedgrad_data::digits::fleet::Client), and a generic f64 graph of the standard
//! ops with the crate's optimizers. Arrays come in and go out as numpy arrays (copied: the
//! graphs own their memory). Every Rust error becomes an `embedgrad.EmbedgradError` (a
//! `ValueError`) carrying the error's `Display` text; nothing here unwraps or indexes.
//!
//! ```python
//! import embedgrad
//! m = embedgrad.digits.Model(seed=42)
//! m.train()
//! print(m.evaluate()["accuracy"])
//! ```

use pyo3::prelude::*;

mod arrays;
mod digits;
mod graph;

pyo3::create_exception!(
    embedgrad,
    EmbedgradError,
    pyo3::exceptions::PyValueError,
    "An error of embedgrad's Rust code (graph, optimizer, weight file) or a bad argument; its message is the Rust error's."
);

/// An [`EmbedgradError`] with `e`'s `Display` text.
pub(crate) fn err(e: impl core::fmt::Display) -> PyErr {
    EmbedgradError::new_err(e.to_string())
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("EmbedgradError", m.py().get_type::<EmbedgradError>())?;
    digits::register(m)?;
    graph::register(m)?;
    Ok(())
}
