//! The subcommands: the command line ([`cli`], clap), one module per subcommand, and the
//! output ([`out`], [`progress`]) that cannot panic.

mod cli;
mod digits;
mod examples;
mod exercises;
mod fleet;
mod out;
mod plan;
mod progress;
mod sensor;
mod train;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use cli::{Cli, Command, TrainExample};
use embedgrad_data::exercises::Model;
use embedgrad_data::seed::Example;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong: clap's error (exit status 2).
    Usage(clap::Error),
    /// The command was understood but could not be carried out (exit status 1).
    Failed(String),
    /// Standard output is a pipe whose reader has gone (`| head -1`): the command stops
    /// quietly with status 0, as other Unix tools do.
    ClosedPipe,
}

impl Failure {
    /// A usage error found after parsing, in clap's form, with the usage of the subcommand at
    /// `path` (`["train", "exercises"]`).
    fn usage(path: &[&str], kind: ErrorKind, message: impl std::fmt::Display) -> Self {
        let mut at = Cli::command();
        at.build();
        for name in path {
            match at.find_subcommand(name).cloned() {
                Some(sub) => at = sub,
                None => break,
            }
        }
        Failure::Usage(at.error(kind, message))
    }
}

/// Reads the command line, runs the command and returns the exit status.
pub fn main() -> ExitCode {
    match parse_and_run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

/// Prints a failure on stderr and returns the matching exit status: clap's message for a
/// usage error, one line for a failure while running, nothing for a closed pipe (status 0).
fn report(e: Failure) -> ExitCode {
    match e {
        Failure::Usage(e) => {
            // `print` reports a failed write instead of panicking; there is nowhere left to
            // report it to.
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
        Failure::Failed(m) => {
            // A message must stay on one line, whatever it quotes.
            let line = m.replace(['\n', '\r'], " ");
            out::err_line(format_args!("embedgrad-sim: error: {line}"));
            ExitCode::from(1)
        }
        Failure::ClosedPipe => ExitCode::SUCCESS,
    }
}

/// Prints `--help` (or `--version`) on standard output, like any other output: a closed pipe
/// ends quietly, a failed write is an error.
fn print_help(e: &clap::Error) -> Result<(), Failure> {
    let text = e.render();
    let mut text = if std::io::stdout().is_terminal() {
        text.ansi().to_string()
    } else {
        text.to_string()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let mut out = out::Out::new();
    out.text(&text);
    out.finish()
}

fn parse_and_run() -> Result<(), Failure> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return print_help(&e)
        }
        Err(e) => return Err(Failure::Usage(e)),
    };
    let Some(command) = cli.command else {
        return examples::run(&cli.out);
    };
    match command {
        Command::Train(t) => {
            if let Some((flag, _)) = t
                .specific()
                .into_iter()
                .find(|&(flag, given)| given && !t.example.takes(flag))
            {
                return Err(Failure::usage(
                    &["train"],
                    ErrorKind::ArgumentConflict,
                    format!(
                        "the argument '{flag}' cannot be used with '{}'",
                        t.example.name()
                    ),
                ));
            }
            let (precision, json) = (t.precision, t.json);
            let seed = |example| train::run(example, precision, json, &t);
            match t.example {
                TrainExample::Perceptron => seed(Example::Perceptron),
                TrainExample::MlpXor => seed(Example::MlpXor),
                TrainExample::SpiralDeep => seed(Example::SpiralDeep),
                TrainExample::Digits => digits::run(precision, json, t.save.as_deref()),
                TrainExample::Exercises => exercises::run(&t, None),
                TrainExample::ExercisesGru => exercises::run(&t, Some(Model::Gru)),
            }
        }
        Command::Plan { example } => plan::run(example),
        Command::Eval(a) => digits::eval(&a),
        Command::Predict(a) => digits::predict(&a),
        Command::Finetune(a) => digits::finetune(&a),
        Command::Stream(a) => exercises::stream(&a),
        Command::SensorDemo(a) => sensor::run(&a),
        Command::FleetClient(a) => fleet::run(&a),
    }
}
