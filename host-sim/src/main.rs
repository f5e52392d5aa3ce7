//! `embedgrad-sim`: trains the seed examples on the desktop with the same crates the firmware
//! runs, prints progress or JSON lines and draws pictures. Run with `--help` for the usage.
#![forbid(unsafe_code)]
// No command can panic; indexing is allowed in host code (see Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
