//! The gate runs on the Cortex-M4F board (`mps2-an386`): its memory map, and cortex-m-rt's
//! link script.

use std::{env, error::Error, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let target = env::var("TARGET")?;
    if target != "thumbv7em-none-eabihf" {
        return Err(format!(
            "embedgrad-panic-never builds for thumbv7em-none-eabihf only, not `{target}`"
        )
        .into());
    }
    let src = PathBuf::from("../boards/memory/mps2-an386.x");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::copy(&src, out.join("memory.x"))
        .map_err(|e| format!("copying {} to OUT_DIR: {e}", src.display()))?;
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
