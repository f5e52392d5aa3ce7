//! Arbitrary bytes into the fleet's job-line parser (`embedgrad_data::digits::fleet::Job`),
//! the line a gateway writes for the firmware client.
//!
//! Invariants: parsing never panics; an accepted job is in range (`client < clients <=
//! 65535`, `cut_after_epoch` in `1..=epochs`) and is exactly the decimal fields the line
//! holds — written back in canonical form it parses to the same job; a refusal has a message.

#![no_main]

use embedgrad_data::digits::fleet::{Job, LOCAL};
use libfuzzer_sys::fuzz_target;
use std::fmt::Write as _;

fuzz_target!(|data: &[u8]| {
    match Job::parse(data) {
        Ok(job) => {
            assert!(job.clients >= 1 && job.clients <= 65535, "{job:?}");
            assert!(job.client < job.clients, "{job:?}");
            if let Some(k) = job.cut_after_epoch {
                assert!(k >= 1 && k <= LOCAL.epochs, "{job:?}");
            }
            // The same numbers as the line's fields (std's parser, signs refused).
            let text = std::str::from_utf8(data).expect("an accepted line is text");
            let fields: Vec<u32> = text
                .split_ascii_whitespace()
                .map(|f| {
                    assert!(f.bytes().all(|b| b.is_ascii_digit()), "{f:?}");
                    f.parse().expect("a decimal u32")
                })
                .collect();
            let mut want = vec![job.client, job.clients, job.round];
            want.extend(job.cut_after_epoch);
            assert_eq!(fields, want);
            let mut canonical = String::new();
            for (i, v) in want.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                write!(canonical, "{sep}{v}").unwrap();
            }
            canonical.push('\n');
            assert_eq!(Job::parse(canonical.as_bytes()), Ok(job));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
