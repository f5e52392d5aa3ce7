//! Self-test of the infrastructure: an example that fails its check must exit with
//! `exit_code::FAILURE` (1). ci.sh runs it and expects exactly that status.
#![no_std]
#![no_main]

use embedgrad_firmware::{Bench, Example, Failure, Outcome};

fn fail(bench: &mut Bench) -> Result<Outcome, Failure> {
    bench.step(|| ());
    Err(Failure::Check("selftest: deliberate failure"))
}

embedgrad_firmware::firmware!(Example {
    name: "selftest_fail",
    train: fail,
    skip: None,
    stack: 0,
    on_fault: None,
});
