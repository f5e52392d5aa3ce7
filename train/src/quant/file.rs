//! Names and views of the quantized models' safetensors files, shared by the writers and readers.

use crate::safetensors::{self, Dims, Problem, SafeTensors, WeightsError};
use embedgrad_core::nopanic::SliceExt as _;

/// The tensor `{i}.{field}` of a file.
pub(super) fn find_in<'a, const MAX: usize>(
    st: &SafeTensors<'a, MAX>,
    i: usize,
    field: &str,
    buf: &mut [u8; 24],
) -> Result<safetensors::TensorInfo<'a>, WeightsError> {
    let mut w = ByteWriter { buf, len: 0 };
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("{i}.{field}"));
    let n = w.len;
    let name = core::str::from_utf8(buf.get(..n).unwrap_or(&[])).unwrap_or("");
    st.tensors()
        .iter()
        .find(|t| t.name == name)
        .copied()
        .ok_or(WeightsError {
            problem: Problem::Missing,
            tensor: safetensors::Name::new(name),
        })
}

pub(super) fn wrong(t: &safetensors::TensorInfo<'_>, expected: Dims) -> WeightsError {
    WeightsError {
        problem: Problem::WrongShape {
            expected,
            found: t.dims,
        },
        tensor: safetensors::Name::new(t.name),
    }
}

/// The little-endian bytes of int32s (their memory on a little-endian target; the writer
/// is for such targets and hosts).
pub(super) fn words_le(w: &[i32]) -> &[u8] {
    bytemuck::cast_slice(w)
}

/// A `fmt::Write` into a fixed buffer.
pub(super) struct ByteWriter<'b> {
    pub(super) buf: &'b mut [u8; 24],
    pub(super) len: usize,
}

impl core::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let dst = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(core::fmt::Error)?;
        dst.copy_from(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}
