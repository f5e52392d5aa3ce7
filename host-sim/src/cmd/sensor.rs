//! `embedgrad-sim sensor-demo [--samples N] [--seed S] [--error-rate P] [--json]`.

use super::cli::SensorDemo;
use super::out::Out;
use super::Failure;
use embedgrad_host_sim::json;
use embedgrad_host_sim::sensor::{self, DemoConfig, DemoSummary, Progress};
use serde::Serialize;

/// Runs `sensor-demo`.
pub fn run(args: &SensorDemo) -> Result<(), Failure> {
    let cfg = DemoConfig {
        samples: args.samples,
        seed: args.seed,
        error_rate: args.error_rate,
        ..DemoConfig::default()
    };
    let as_json = args.json;
    let mut out = Out::new();
    if !as_json {
        out.line(format_args!(
            "sensor-demo: a simulated MPU-6050 on a flaky I2C bus ({:.1}% of transactions fail), \
             read through embedded-hal; {} gestures (tilt or shake, {} readings 20 ms apart each) \
             learned online by a {}-{}-2 tanh network, Adam, batches of {}",
            100.0 * cfg.error_rate,
            cfg.samples,
            sensor::WINDOW,
            sensor::FEATURES,
            sensor::HIDDEN,
            sensor::BATCH,
        ));
    }
    let s = sensor::run_demo(&cfg, |p| {
        if as_json || out.failed() {
            return;
        }
        match *p {
            Progress::Status {
                sample,
                running_accuracy,
                window,
                steps,
                bus_errors,
            } => out.line(format_args!(
                "sample {sample:>5}: running accuracy {:5.1}% (last {window} predictions before \
                 learning), {steps} steps, {bus_errors} bus errors",
                100.0 * running_accuracy
            )),
            Progress::BusError { sample, kind } => out.line(format_args!(
                "sample {sample:>5}: bus error ({kind}): sample dropped; weights and Adam state \
                 verified unchanged"
            )),
        }
    })
    .map_err(|e| Failure::Failed(format!("sensor demo failed: {e}")))?;
    if as_json {
        out.line(format_args!("{}", summary_line(&s)));
    } else {
        out.line(format_args!(
            "summary: learned from {} of {} gestures in {} steps ({:.1} s of readings); {} bus \
             errors, each dropping one sample with the model intact ({} checks); accuracy before \
             learning: first 64 {:.1}%, last 64 {:.1}%, overall {:.1}%; fresh unlabelled \
             gestures recognised: {}/{} ({:.1}%, {} bus errors retried)",
            s.labelled,
            s.samples,
            s.steps,
            s.simulated_seconds,
            s.bus_errors,
            s.state_checks,
            100.0 * s.first_accuracy,
            100.0 * s.running_accuracy,
            100.0 * s.overall_accuracy,
            s.test_correct,
            s.test_total,
            100.0 * s.test_accuracy(),
            s.test_bus_errors,
        ));
    }
    out.finish()
}

/// The `--json` summary: one object with every field of [`DemoSummary`].
fn summary_line(s: &DemoSummary) -> String {
    #[derive(Serialize)]
    struct Summary {
        demo: &'static str,
        samples: usize,
        labelled: u64,
        steps: u64,
        bus_errors: u64,
        state_checks: u64,
        first_accuracy: f64,
        running_accuracy: f64,
        overall_accuracy: f64,
        test_correct: usize,
        test_total: usize,
        test_accuracy: f64,
        test_bus_errors: u64,
        simulated_seconds: f64,
    }
    json::line(&Summary {
        demo: "sensor",
        samples: s.samples,
        labelled: s.labelled,
        steps: s.steps,
        bus_errors: s.bus_errors,
        state_checks: s.state_checks,
        first_accuracy: s.first_accuracy,
        running_accuracy: s.running_accuracy,
        overall_accuracy: s.overall_accuracy,
        test_correct: s.test_correct,
        test_total: s.test_total,
        test_accuracy: s.test_accuracy(),
        test_bus_errors: s.test_bus_errors,
        simulated_seconds: s.simulated_seconds,
    })
}
