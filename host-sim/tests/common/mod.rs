//! What the command-line tests share: running the binary, and the two kinds of error.
#![allow(dead_code)] // each test file uses a part

use std::process::{Command, Output};

/// Runs `embedgrad-sim` with `args`.
pub fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embedgrad-sim"))
        .args(args)
        .output()
        .unwrap()
}

/// Bytes of output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A wrong command line: status 2, nothing on stdout, and on stderr clap's message (which
/// says `says`) and the pointer to `--help`.
pub fn assert_usage_error(args: &[&str], says: &str) {
    let out = sim(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(
        stderr.ends_with("For more information, try '--help'.\n"),
        "{args:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

/// A failure while running: status 1, nothing on stdout, one line on stderr that says `says`.
pub fn assert_failure(args: &[&str], says: &str) {
    let out = sim(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.ends_with('\n'));
    assert!(stderr.starts_with("embedgrad-sim: error: "), "{stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
}
