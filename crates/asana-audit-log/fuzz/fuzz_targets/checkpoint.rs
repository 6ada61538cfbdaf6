//! The pipeline's crash recovery: checkpoint files and the tail of a line output.
//!
//! Each input is used three ways:
//!
//! 1. as a checkpoint file: `Checkpoint::parse` never panics; an accepted checkpoint writes
//!    back to JSON that parses to the same checkpoint;
//! 2. as the bytes after the checkpointed length: `scan_tail` never panics, reports exactly the
//!    bytes after the last newline as torn, and only gids that are in the input;
//! 3. as a real output file resumed at a length taken from the input: `Lines::file` either
//!    refuses (the file is shorter than the checkpoint says) or cuts exactly the torn line.

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use asana_audit_log_pipeline::{Checkpoint, Error, FORMAT_VERSION, Lines, scan_tail};

/// A scratch file on tmpfs when there is one, so the fsync of a cut line costs nothing.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("asana-audit-fuzz-{}.ndjson", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    // 1. The checkpoint file.
    match Checkpoint::parse(data, Path::new("fuzz.checkpoint")) {
        Ok(checkpoint) => {
            assert_eq!(checkpoint.version, FORMAT_VERSION);
            let written = serde_json::to_vec_pretty(&checkpoint).expect("serializes");
            let again = Checkpoint::parse(&written, Path::new("again"))
                .unwrap_or_else(|e| panic!("a written checkpoint reads back: {e}"));
            assert_eq!(serde_json::to_vec_pretty(&again).unwrap(), written);
            assert_eq!(again.cursor, checkpoint.cursor);
            assert_eq!(again.query, checkpoint.query);
        }
        Err(error) => assert!(matches!(error, Error::Refused { .. }), "{error:?}"),
    }

    // 2. The tail after the checkpointed length.
    let recovered = scan_tail(data);
    let torn = recovered.truncated_bytes as usize;
    assert!(torn <= data.len());
    assert!(!data[data.len() - torn..].contains(&b'\n'));
    if torn < data.len() {
        assert_eq!(data[data.len() - torn - 1], b'\n');
    }
    let complete_lines = data[..data.len() - torn]
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    assert!(recovered.gids.len() <= complete_lines);

    // 3. The same bytes as an output file resumed at some checkpointed length.
    let covered = data
        .first()
        .map_or(0, |&b| u64::from(b) * data.len() as u64 / 255);
    let path = scratch();
    std::fs::write(path, data).expect("scratch file");
    match Lines::file(path, Some(covered), false) {
        Ok((_output, recovered)) => {
            let after = std::fs::read(path).expect("scratch file");
            let tail = &data[covered as usize..];
            let expected = scan_tail(tail);
            assert_eq!(recovered.truncated_bytes, expected.truncated_bytes);
            assert_eq!(recovered.gids, expected.gids);
            assert_eq!(
                after.len() as u64,
                data.len() as u64 - expected.truncated_bytes
            );
            assert_eq!(&after[..], &data[..after.len()], "only the end was cut");
        }
        Err(error) => panic!("resuming within the file failed: {error}"),
    }
});
