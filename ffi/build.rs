//! Reads the graph capacities of the C API from the environment at build time.
//!
//! `EMBEDGRAD_FFI_NODES` and `EMBEDGRAD_FFI_SCALARS` override the defaults (`EG_DEFAULT_NODES`,
//! `EG_DEFAULT_SCALARS` in `src/lib.rs`). The values are written to `$OUT_DIR/capacity.rs`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // a build script reports errors by panicking

use std::{env, fs, path::PathBuf};

fn read(var: &str, max: u64) -> Option<u64> {
    println!("cargo:rerun-if-env-changed={var}");
    let v = env::var(var).ok()?;
    let n: u64 = v
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{var}={v:?} is not a whole number"));
    assert!(
        (1..=max).contains(&n),
        "{var}={n} is out of range 1..={max}"
    );
    Some(n)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Nodes are indexed by 16 bits; scalar offsets by 32 bits.
    let nodes = read("EMBEDGRAD_FFI_NODES", 65_535);
    let scalars = read("EMBEDGRAD_FFI_SCALARS", (u32::MAX / 2) as u64);
    let opt = |v: Option<u64>| match v {
        Some(n) => format!("Some({n})"),
        None => "None".to_string(),
    };
    let code = format!(
        "/// `EMBEDGRAD_FFI_NODES` at build time.\n\
         pub(crate) const NODES_OVERRIDE: Option<usize> = {};\n\
         /// `EMBEDGRAD_FFI_SCALARS` at build time.\n\
         pub(crate) const SCALARS_OVERRIDE: Option<usize> = {};\n",
        opt(nodes),
        opt(scalars)
    );
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("capacity.rs"), code).expect("write capacity.rs");
}
