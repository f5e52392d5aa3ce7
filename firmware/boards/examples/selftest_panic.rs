//! Self-test of the infrastructure: a panic must exit with `exit_code::PANIC` (101).
#![no_std]
#![no_main]

use embedgrad_firmware::{Bench, Example, Failure, Outcome};

fn panics(bench: &mut Bench) -> Result<Outcome, Failure> {
    bench.step(|| ());
    if core::hint::black_box(true) {
        panic!("selftest: deliberate panic");
    }
    Err(Failure::Check("unreachable"))
}

embedgrad_firmware::firmware!(Example {
    name: "selftest_panic",
    train: panics,
    skip: None,
    stack: 0,
    on_fault: None,
});
