//! `embedgrad-sim sensor-demo [--samples N] [--seed S] [--error-rate P] [--json]`.

use super::args::{no_value, Arg, Args};
use super::out::Out;
use super::Failure;
use embedgrad_host_sim::json;
use embedgrad_host_sim::sensor::{self, DemoConfig, DemoSummary, Progress};

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, Failure> {
    v.parse()
        .map_err(|_| Failure::Usage(format!("{flag}: '{v}' is not a valid number")))
}

/// Runs `sensor-demo` (`args` after the subcommand).
pub fn run(args: &[String]) -> Result<(), Failure> {
    let mut cfg = DemoConfig::default();
    let mut as_json = false;
    let mut args = Args::new(args);
    while let Some(arg) = args.next_arg() {
        match arg {
            Arg::Flag(f, v) if f == "--samples" => {
                cfg.samples = number(&f, &args.value(&f, v)?)?;
                if cfg.samples == 0 {
                    return Err(Failure::Usage("--samples must be at least 1".into()));
                }
            }
            Arg::Flag(f, v) if f == "--seed" => cfg.seed = number(&f, &args.value(&f, v)?)?,
            Arg::Flag(f, v) if f == "--error-rate" => {
                cfg.error_rate = number(&f, &args.value(&f, v)?)?;
                if !(0.0..=0.5).contains(&cfg.error_rate) {
                    return Err(Failure::Usage("--error-rate must be in 0..=0.5".into()));
                }
            }
            Arg::Flag(f, v) if f == "--json" => {
                no_value(&f, v)?;
                as_json = true;
            }
            Arg::Flag(f, _) if f == "--help" || f == "-h" => {
                return super::help();
            }
            Arg::Flag(f, _) => return Err(Failure::Usage(format!("unknown option '{f}'"))),
            Arg::Positional(extra) => {
                return Err(Failure::Usage(format!("unexpected argument '{extra}'")))
            }
        }
    }
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
    format!(
        "{{\"demo\":\"sensor\",\"samples\":{},\"labelled\":{},\"steps\":{},\"bus_errors\":{},\
         \"state_checks\":{},\"first_accuracy\":{},\"running_accuracy\":{},\
         \"overall_accuracy\":{},\"test_correct\":{},\"test_total\":{},\"test_accuracy\":{},\
         \"test_bus_errors\":{},\"simulated_seconds\":{}}}",
        s.samples,
        s.labelled,
        s.steps,
        s.bus_errors,
        s.state_checks,
        json::number(s.first_accuracy),
        json::number(s.running_accuracy),
        json::number(s.overall_accuracy),
        s.test_correct,
        s.test_total,
        json::number(s.test_accuracy()),
        s.test_bus_errors,
        json::number(s.simulated_seconds),
    )
}
