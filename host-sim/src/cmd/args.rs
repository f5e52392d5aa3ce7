//! A tiny command-line reader: `--flag`, `--flag VALUE`, `--flag=VALUE` and positionals.

use super::Failure;

/// One item of the command line.
pub enum Arg {
    /// `--name` (with the value of `--name=value`, if written so).
    Flag(String, Option<String>),
    /// Anything else.
    Positional(String),
}

/// Reads the arguments of one subcommand.
pub struct Args<'a> {
    items: std::slice::Iter<'a, String>,
}

impl<'a> Args<'a> {
    /// Reads `items`.
    pub fn new(items: &'a [String]) -> Self {
        Self {
            items: items.iter(),
        }
    }

    /// The next argument.
    pub fn next_arg(&mut self) -> Option<Arg> {
        let a = self.items.next()?;
        if let Some(rest) = a.strip_prefix("--") {
            Some(match rest.split_once('=') {
                Some((name, value)) => Arg::Flag(format!("--{name}"), Some(value.to_string())),
                None => Arg::Flag(a.clone(), None),
            })
        } else if a.starts_with('-') && a.len() > 1 {
            Some(Arg::Flag(a.clone(), None))
        } else {
            Some(Arg::Positional(a.clone()))
        }
    }

    /// The value of a flag: the inline `--flag=value`, or the next argument.
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, Failure> {
        let v = match inline {
            Some(v) => v,
            None => match self.items.next() {
                Some(v) if !v.starts_with("--") => v.clone(),
                _ => return Err(Failure::Usage(format!("{flag} needs a value"))),
            },
        };
        if v.is_empty() {
            Err(Failure::Usage(format!("{flag} needs a value")))
        } else {
            Ok(v)
        }
    }
}

/// Fails if a switch was given a value (`--json=yes`).
pub fn no_value(flag: &str, inline: Option<String>) -> Result<(), Failure> {
    match inline {
        None => Ok(()),
        Some(_) => Err(Failure::Usage(format!("{flag} takes no value"))),
    }
}
