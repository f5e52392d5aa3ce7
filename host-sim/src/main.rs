//! `embedgrad-sim`: trains the seed examples on the desktop with the same crates the firmware
//! runs, prints progress or JSON lines and draws pictures. Run with `--help` for the usage.
#![forbid(unsafe_code)]

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(a) => {
                return cmd::report(&cmd::Failure::Usage(format!(
                    "argument is not valid UTF-8: {}",
                    a.to_string_lossy()
                )))
            }
        }
    }
    match cmd::dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cmd::report(&e),
    }
}
