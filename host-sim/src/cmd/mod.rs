//! The subcommands: a small dispatcher, one module per subcommand.

mod args;
mod digits;
mod examples;
mod exercises;
mod out;
mod plan;
mod sensor;
mod train;

use std::fmt;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong (exit status 2).
    Usage(String),
    /// The command was understood but could not be carried out (exit status 1).
    Failed(String),
    /// Standard output is a pipe whose reader has gone (`| head -1`): the command stops
    /// quietly with status 0, as other Unix tools do.
    ClosedPipe,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "{m} (see embedgrad-sim --help)"),
            Failure::Failed(m) => f.write_str(m),
            Failure::ClosedPipe => f.write_str("standard output was closed"),
        }
    }
}

/// Prints a failure as one line on stderr and returns the matching exit status (a closed
/// pipe prints nothing and exits 0).
pub fn report(e: &Failure) -> ExitCode {
    let code = match e {
        Failure::Usage(_) => ExitCode::from(2),
        Failure::Failed(_) => ExitCode::from(1),
        Failure::ClosedPipe => return ExitCode::SUCCESS,
    };
    // A message must stay on one line, whatever it quotes.
    let line = e.to_string().replace(['\n', '\r'], " ");
    out::err_line(format_args!("embedgrad-sim: error: {line}"));
    code
}

/// Prints the usage text on standard output.
fn help() -> Result<(), Failure> {
    let mut out = out::Out::new();
    out.text(USAGE);
    out.finish()
}

/// The usage text of `--help`.
pub const USAGE: &str = "\
embedgrad-sim: trains the seed examples of \"Deep Learning From Scratch\" with embedgrad

USAGE:
    embedgrad-sim [--out DIR]
        Trains perceptron, mlp_xor and spiral_deep in f32 with progress on stderr and writes
        a picture of each (data, learned decision regions, loss curve) as DIR/<example>.svg
        (DIR defaults to out).

    embedgrad-sim train <perceptron|mlp_xor|spiral_deep> [--precision f32|f64] [--json] [--plot PATH] [--plan]
        Trains one example (default precision f32). Prints the loss every 10% of the steps and
        a summary; with --json, one JSON object per line instead: the loss of steps 0, 10,
        20, ... (before that step's update) and of the final step (after the last update),
        then the final loss, accuracy and the FNV-1a checksum of the data. --plot writes the
        picture to PATH (SVG). --plan trains with the planned, fused step.

    embedgrad-sim plan <perceptron|mlp_xor|spiral_deep>
        Prints the step plan of the example's full-batch training step: the fused steps, and
        every buffer with its lifetime, offset and size, against the interpreter's memory.

    embedgrad-sim train digits [--precision f32|f64] [--json] [--save PATH]
        Trains a 64-32-10 relu network with Adam on the UCI handwritten digits (8x8 images,
        1,437 for training, 360 held out; 20 epochs of mini-batches of 16). Prints each
        epoch's mean training loss and time, then the training and held-out accuracy; with
        --json, one line per epoch {\"example\":\"digits\",\"precision\":P,\"epoch\":E,\"loss\":L},
        then the final loss, accuracy, test_accuracy and the data's checksum. --save writes
        the trained weights to PATH as safetensors, in the layout of PyTorch's
        nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).

    embedgrad-sim train exercises [--model cnn|gru] [--precision f32|f64] [--json] [--epochs N]
        Trains a 1-D CNN (default) or a GRU with Adam on the smartwatch exercise windows (64
        steps x 6 channels, 7 exercises; 784 for training, 196 held out; mini-batches of 16,
        each training window shifted, scaled and turned at random). `train exercises-gru` is
        `--model gru`. Prints each epoch's mean training loss and time, then the training and
        held-out accuracy; with --json, one line per epoch
        {\"example\":\"exercises\",\"precision\":P,\"epoch\":E,\"loss\":L} (example
        exercises-gru for the GRU), then the final loss, accuracy, test_accuracy and the
        data's checksum. --epochs N stops after the first N epochs of the same run.

    embedgrad-sim stream exercises [--hop N] [--json]
        Trains the exercises CNN, then replays the held-out windows frame by frame through a
        simulated sensor (a SampleSource) into a sliding window kept in the graph's input,
        classified every N frames (default 16); one line per classification, then a summary
        (with --json: {\"example\":\"exercises\",\"sample\":S,\"class\":C,\"label\":L,
        \"aligned\":B} lines and {\"hop\":N,\"accuracy\":A,\"aligned_accuracy\":W,...}).

    embedgrad-sim eval digits --weights PATH [--writer W] [--precision f32|f64] [--json]
        Prints the held-out accuracy of the weights in PATH (safetensors, as --save writes
        them or PyTorch's safetensors.torch.save_file does) on the digits as writer W draws
        them (original, slanted, thick, shifted or unseen; default original); with --json,
        {\"example\":\"digits\",\"writer\":W,\"test_accuracy\":A,\"correct\":C,\"total\":N}.

    embedgrad-sim predict digits --weights PATH [--rows N] [--writer W] [--precision f32|f64]
        Prints the class scores (logits) of the weights in PATH for the first N images of the
        data set (default 16), one JSON line each: {\"row\":R,\"label\":L,\"logits\":[...]}.

    embedgrad-sim finetune digits --weights PATH [--writer W] [--mode last|all|biases] [--json] [--save PATH]
        Adapts the weights in PATH to a writer they have not seen (default unseen: slanted
        and thick) by training on that writer's training images (5 epochs, Adam 0.01),
        training the last layer (default), the whole network or the biases only; prints the
        held-out accuracy on that writer before and after. With --json, one line per epoch,
        then {\"example\":\"digits\",\"writer\":W,\"mode\":M,\"before\":A,\"test_accuracy\":B,
        \"trainable\":P,\"scalars\":S}. --save writes the fine-tuned weights.

    embedgrad-sim sensor-demo [--samples N] [--seed S] [--error-rate P] [--json]
        Learns online to tell two gestures (tilt, shake) apart from a simulated MPU-6050
        accelerometer read over a flaky I2C bus through embedded-hal (N gestures, default
        600; P of the transactions fail, default 0.002). Prints the running accuracy, every
        bus error (the sample is dropped, the model checked unchanged) and a summary; with
        --json, only the summary as one JSON object.

    embedgrad-sim --help
        Prints this text.

Errors (unknown example, bad flag, missing value, unwritable path, a failed write to
standard output) print one line on stderr and exit with status 2 (command line) or 1 (failure
while running). When standard output is a pipe that its reader closes early (| head), the
command stops quietly with status 0.
";

/// Runs the subcommand named by the first argument.
pub fn dispatch(args: &[String]) -> Result<(), Failure> {
    match args.first().map(String::as_str) {
        None => examples::run(&[]),
        Some("-h" | "--help" | "help") => help(),
        Some("train") if exercises::wanted(args.get(1..).unwrap_or(&[])) => {
            exercises::run(args.get(1..).unwrap_or(&[]))
        }
        Some("train") if digits::wanted(args.get(1..).unwrap_or(&[])) => {
            digits::run(args.get(1..).unwrap_or(&[]))
        }
        Some("train") => train::run(args.get(1..).unwrap_or(&[])),
        Some("eval") => digits::eval(args.get(1..).unwrap_or(&[])),
        Some("predict") => digits::predict(args.get(1..).unwrap_or(&[])),
        Some("finetune") => digits::finetune(args.get(1..).unwrap_or(&[])),
        Some("stream") => exercises::stream(args.get(1..).unwrap_or(&[])),
        Some("sensor-demo") => sensor::run(args.get(1..).unwrap_or(&[])),
        Some("plan") => plan::run(args.get(1..).unwrap_or(&[])),
        Some(a) if a.starts_with('-') => examples::run(args),
        Some(other) => Err(Failure::Usage(format!("unknown command '{other}'"))),
    }
}
