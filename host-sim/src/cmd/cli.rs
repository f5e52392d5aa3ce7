//! The command line of `embedgrad-sim`, declared with clap: every command, flag and help text.

use clap::builder::{PossibleValuesParser, RangedU64ValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use embedgrad_data::digits::{Writer, SAMPLES};
use embedgrad_data::exercises::Model;
use embedgrad_data::seed::Example;
use embedgrad_host_sim::sensor::DemoConfig;
use embedgrad_host_sim::{digits, Precision};
use embedgrad_train::layers::FineTune;
use std::path::PathBuf;

/// What the exit status means (the end of `--help`).
const EXIT_STATUS: &str = "\
Exit status: 0 on success, also when standard output is a pipe that its reader closes early
(| head): the command then stops quietly. 1 when a command fails while running (an unwritable
path, a bad weight file, a failed write to standard output): one line on stderr. 2 for a wrong
command line: clap's message and the usage on stderr.";

/// Trains the seed examples of "Deep Learning From Scratch" with embedgrad, on the desktop, with
/// the same graph, ops and optimizer the firmware runs.
///
/// Without a command: trains perceptron, mlp_xor and spiral_deep in f32 with progress on stderr
/// and writes a picture of each (data, learned decision regions, loss curve) to
/// DIR/perceptron.svg, DIR/mlp_xor.svg and DIR/spiral_deep.svg.
#[derive(Debug, Parser)]
#[command(
    name = "embedgrad-sim",
    bin_name = "embedgrad-sim",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// Where the pictures go when no command is given.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// The command (none: train and draw every seed example).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trains one example: a seed example, the digits or the smartwatch exercises.
    ///
    /// The seed examples print the loss every 10% of the steps and a summary; with --json, one
    /// JSON object per line instead: the loss of steps 0, 10, 20, ... (before that step's update)
    /// and of the final step (after the last update), then the final loss, accuracy and the
    /// FNV-1a checksum of the data. The data sets print each epoch's mean training loss and time,
    /// then the training and held-out accuracy; with --json, one line per epoch
    /// {"example":E,"precision":P,"epoch":N,"loss":L}, then the final loss, accuracy,
    /// test_accuracy and the data's checksum.
    Train(Train),
    /// Prints the step plan of a seed example's full-batch training step.
    ///
    /// The fused steps, and every buffer with its lifetime, offset and size, against the
    /// interpreter's memory.
    Plan {
        /// The seed example.
        #[arg(value_parser = one_of(&Example::ALL, Example::name))]
        example: Example,
    },
    /// Prints the held-out accuracy of a weight file on the digits.
    ///
    /// The weights are safetensors, as `train digits --save` writes them or PyTorch's
    /// safetensors.torch.save_file does; the digits are drawn as --writer draws them. With
    /// --json: {"example":"digits","writer":W,"test_accuracy":A,"correct":C,"total":N}.
    Eval(Eval),
    /// Prints the class scores (logits) of a weight file for the first images of the digits.
    ///
    /// One JSON line per image: {"row":R,"label":L,"logits":[...]}.
    Predict(Predict),
    /// Adapts a weight file to a writer it has not seen, by training on that writer's images.
    ///
    /// 5 epochs, Adam 0.01, training the last layer, the whole network or the biases only;
    /// prints the held-out accuracy on that writer before and after. With --json, one line per
    /// epoch, then {"example":"digits","writer":W,"mode":M,"before":A,"test_accuracy":B,
    /// "trainable":P,"scalars":S}.
    Finetune(Finetune),
    /// Replays the held-out exercise windows frame by frame through a simulated sensor.
    ///
    /// Trains the exercises CNN, then streams the held-out windows through a SampleSource into
    /// a sliding window kept in the graph's input, classified every --hop frames; one line per
    /// classification, then a summary. With --json: {"example":"exercises","sample":S,
    /// "class":C,"label":L,"aligned":B} lines and {"hop":N,"accuracy":A,
    /// "aligned_accuracy":W,...}.
    Stream(Stream),
    /// Learns online to tell two gestures apart from a simulated accelerometer on a flaky bus.
    ///
    /// Tilt or shake, from a simulated MPU-6050 read over an I2C bus through embedded-hal, some
    /// of whose transactions fail. Prints the running accuracy, every bus error (the sample is
    /// dropped, the model checked unchanged) and a summary; with --json, only the summary as
    /// one JSON object.
    SensorDemo(SensorDemo),
    /// Runs one round of a federated digits client, as the firmware client does in QEMU.
    ///
    /// Client --client of a fleet of --clients trains its shard (three digits) for the local
    /// round of embedgrad_data::digits::fleet::LOCAL (5 epochs of plain gradient descent) from
    /// the global model in --weights and writes its weights to --out (safetensors, PyTorch's
    /// layout, F32). Prints `rows=<n> steps=<n> loss=<f32> epochs=0..5` (the firmware's
    /// summary.txt, also written to --summary); with --json
    /// {"client":C,"clients":N,"round":R,"rows":n,"steps":n,"loss":L,"epochs":E}. With
    /// --init, writes the initial global model to --out instead, and trains nothing.
    FleetClient(FleetClient),
}

/// `train`: the example, and its options (in any order).
#[derive(Debug, Args)]
pub struct Train {
    /// The example.
    #[arg(value_enum)]
    pub example: TrainExample,
    /// The floating-point precision to train in.
    #[arg(long, default_value = "f32", value_parser = one_of(&Precision::ALL, Precision::name))]
    pub precision: Precision,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seed examples: also write a picture (data, decision regions, loss curve) to PATH, as SVG.
    #[arg(long, value_name = "PATH")]
    pub plot: Option<PathBuf>,
    /// Seed examples: train with the planned, fused step.
    #[arg(long)]
    pub plan: bool,
    /// Digits: write the trained weights to PATH as safetensors, in the layout of PyTorch's
    /// nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
    /// Exercises: the network [default: cnn; gru for exercises-gru].
    #[arg(long, value_parser = one_of(&[Model::Cnn, Model::Gru], Model::name))]
    pub model: Option<Model>,
    /// Exercises: stop after the first N epochs of the same run [default: the recipe's].
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub epochs: Option<usize>,
}

impl Train {
    /// The options given, by flag, that only some examples take.
    pub fn specific(&self) -> [(&'static str, bool); 5] {
        [
            ("--plot", self.plot.is_some()),
            ("--plan", self.plan),
            ("--save", self.save.is_some()),
            ("--model", self.model.is_some()),
            ("--epochs", self.epochs.is_some()),
        ]
    }
}

/// The examples `train` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainExample {
    /// The tutorial's perceptron on two blobs: 100 full-batch steps.
    Perceptron,
    /// The tutorial's 2-2-2 network on XOR-like data: 1,000 full-batch steps.
    #[value(name = "mlp_xor")]
    MlpXor,
    /// A deeper network on two spirals: 6,000 full-batch steps.
    #[value(name = "spiral_deep")]
    SpiralDeep,
    /// A 64-32-10 relu network with Adam on the UCI handwritten digits (8x8 images, 1,437 for
    /// training, 360 held out; 20 epochs of mini-batches of 16).
    Digits,
    /// A 1-D CNN (default) or a GRU with Adam on the smartwatch exercise windows (64 steps x 6
    /// channels, 7 exercises; 784 for training, 196 held out; mini-batches of 16, each
    /// training window shifted, scaled and turned at random).
    Exercises,
    /// `exercises --model gru`.
    #[value(name = "exercises-gru")]
    ExercisesGru,
}

impl TrainExample {
    /// The options of [`Train::specific`] this example takes.
    pub fn takes(self, flag: &str) -> bool {
        match self {
            Self::Perceptron | Self::MlpXor | Self::SpiralDeep => {
                matches!(flag, "--plot" | "--plan")
            }
            Self::Digits => flag == "--save",
            Self::Exercises | Self::ExercisesGru => matches!(flag, "--model" | "--epochs"),
        }
    }

    /// The name on the command line.
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// The model of `eval`, `predict` and `finetune`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DigitsModel {
    /// The 64-32-10 digits network of `train digits`.
    Digits,
}

/// The weight file, writer and precision of `eval`, `predict` and `finetune`.
#[derive(Debug, Args)]
pub struct Weights {
    /// The model.
    #[arg(value_enum)]
    pub model: DigitsModel,
    /// The weights, as safetensors.
    #[arg(long, value_name = "PATH")]
    pub weights: PathBuf,
    /// The floating-point precision to compute in.
    #[arg(long, default_value = "f32", value_parser = one_of(&Precision::ALL, Precision::name))]
    pub precision: Precision,
}

/// `eval`.
#[derive(Debug, Args)]
pub struct Eval {
    /// The model and its weights.
    #[command(flatten)]
    pub weights: Weights,
    /// Who drew the digits.
    #[arg(long, default_value = "original", value_parser = writer())]
    pub writer: Writer,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `predict`.
#[derive(Debug, Args)]
pub struct Predict {
    /// The model and its weights.
    #[command(flatten)]
    pub weights: Weights,
    /// Who drew the digits.
    #[arg(long, default_value = "original", value_parser = writer())]
    pub writer: Writer,
    /// How many images, from the first.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=SAMPLES as u64))]
    pub rows: usize,
    /// Accepted, and changes nothing: the output is JSON lines anyway.
    #[arg(long)]
    pub json: bool,
}

/// `finetune`.
#[derive(Debug, Args)]
pub struct Finetune {
    /// The model and its weights.
    #[command(flatten)]
    pub weights: Weights,
    /// The writer to adapt to (unseen: slanted and thick).
    #[arg(long, default_value = "unseen", value_parser = writer())]
    pub writer: Writer,
    /// What to train: the last layer, the whole network or the biases only.
    #[arg(long, default_value = "last", value_parser = one_of(
        &[FineTune::LastLayer, FineTune::All, FineTune::BiasesOnly], digits::mode_name))]
    pub mode: FineTune,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the fine-tuned weights to PATH as safetensors.
    #[arg(long, value_name = "PATH")]
    pub save: Option<PathBuf>,
}

/// `fleet-client`.
#[derive(Debug, Args)]
pub struct FleetClient {
    /// This client's number, from 0.
    #[arg(long, value_name = "C", default_value_t = 0)]
    pub client: usize,
    /// Clients in the fleet.
    #[arg(long, value_name = "N", default_value_t = embedgrad_data::digits::fleet::CLIENTS,
          value_parser = at_least_one)]
    pub clients: usize,
    /// The federated round (it seeds the local shuffles).
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub round: u32,
    /// The global model, as safetensors (required unless --init).
    #[arg(long, value_name = "PATH")]
    pub weights: Option<std::path::PathBuf>,
    /// Where the local model (or, with --init, the initial global model) goes.
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,
    /// Also write the summary line to PATH (the firmware's summary.txt).
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Write the initial global model (round 0's) to --out; no training.
    #[arg(long, conflicts_with = "weights")]
    pub init: bool,
    /// One JSON object instead of the summary line.
    #[arg(long)]
    pub json: bool,
}

/// The model of `stream`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StreamModel {
    /// The exercises CNN of `train exercises`.
    Exercises,
}

/// `stream`.
#[derive(Debug, Args)]
pub struct Stream {
    /// The model.
    #[arg(value_enum)]
    pub model: StreamModel,
    /// Classify every N frames.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub hop: usize,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sensor-demo`.
#[derive(Debug, Args)]
pub struct SensorDemo {
    /// Gestures to learn from.
    #[arg(long, value_name = "N", default_value_t = DemoConfig::default().samples,
          value_parser = at_least_one)]
    pub samples: usize,
    /// Seed of the hand, the weights and the bus errors.
    #[arg(long, value_name = "S", default_value_t = DemoConfig::default().seed)]
    pub seed: u64,
    /// Share of the bus transactions that fail, from 0 to 0.5.
    #[arg(long, value_name = "P", default_value_t = DemoConfig::default().error_rate,
          value_parser = error_rate)]
    pub error_rate: f64,
    /// Only the summary, as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A parser of one of `all` by its name: the names are the possible values that help and
/// errors list.
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&v| name(v))).try_map(move |s| {
        all.iter()
            .copied()
            .find(|&v| name(v) == s)
            .ok_or("not a possible value")
    })
}

/// A whole number from 1.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The writers of the digits.
fn writer() -> impl TypedValueParser<Value = Writer> {
    one_of(&Writer::ALL, Writer::name)
}

/// `--error-rate`: a number from 0 to 0.5.
fn error_rate(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=0.5).contains(&p) {
        Ok(p)
    } else {
        Err("must be from 0 to 0.5".into())
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
