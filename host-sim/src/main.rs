//! `embedgrad-sim`: trains the seed examples on the desktop with the same crates the firmware
//! runs, prints progress or JSON lines and draws pictures. Run with `--help` for the usage.
#![forbid(unsafe_code)]

mod cmd;

fn main() -> std::process::ExitCode {
    cmd::main()
}
