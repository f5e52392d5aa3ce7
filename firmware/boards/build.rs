//! Chooses the memory map by target (or board feature) and adds the link scripts.
//!
//! `memory/<machine>.x` is copied to `OUT_DIR/memory.x`, which `link.x` (from cortex-m-rt or
//! riscv-rt) includes. The machine name is also passed to the firmware as `EMBEDGRAD_BOARD`.

use std::{env, error::Error, fs, path::PathBuf};

fn machine(target: &str, nrf52840: bool) -> Result<&'static str, String> {
    if nrf52840 {
        return if target == "thumbv7em-none-eabihf" {
            Ok("nrf52840")
        } else {
            Err(format!(
                "feature board-nrf52840 needs --target thumbv7em-none-eabihf, not `{target}`"
            ))
        };
    }
    match target {
        "thumbv6m-none-eabi" => Ok("microbit"),
        "thumbv7m-none-eabi" => Ok("lm3s6965evb"),
        "thumbv7em-none-eabihf" => Ok("mps2-an386"),
        "riscv32imac-unknown-none-elf" => Ok("qemu-virt-rv32"),
        other => Err(format!(
            "embedgrad-firmware has no board for target `{other}`: use thumbv6m-none-eabi, \
             thumbv7m-none-eabi, thumbv7em-none-eabihf or riscv32imac-unknown-none-elf"
        )),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let target = env::var("TARGET")?;
    let nrf52840 = env::var_os("CARGO_FEATURE_BOARD_NRF52840").is_some();
    let machine = machine(&target, nrf52840)?;

    let src = PathBuf::from("memory").join(format!("{machine}.x"));
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::copy(&src, out.join("memory.x"))
        .map_err(|e| format!("copying {} to OUT_DIR: {e}", src.display()))?;

    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!("cargo:rustc-env=EMBEDGRAD_BOARD={machine}");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}
