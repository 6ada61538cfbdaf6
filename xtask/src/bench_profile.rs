//! The profile of `cargo xtask bench`: a `stream` drain under `valgrind --tool=callgrind`, its
//! instruction counts summarised per function, per kind of work, and for a few landmark
//! functions of the client with everything they call.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The summary of one callgrind run.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Events drained under callgrind.
    pub events: u64,
    /// Instructions executed by the whole process.
    pub total: u64,
    /// Functions by instructions executed in their own code (inlined callees included),
    /// largest first.
    pub by_function: Vec<(String, u64)>,
    /// The same instructions, by kind of work (see [`KINDS`]), largest first.
    pub by_kind: Vec<(String, u64)>,
    /// Landmark functions with everything they call (see [`LANDMARKS`]).
    pub landmarks: Vec<(String, u64)>,
}

/// Kinds of work, matched in order against a function's name; the first match wins.
pub const KINDS: &[(&str, &[&str])] = &[
    (
        "allocator (malloc, free and their Rust wrappers)",
        &[
            "malloc",
            "free",
            "realloc",
            "unlink_chunk",
            "__rust_alloc",
            "__rust_dealloc",
            "__rust_realloc",
            "__rdl_",
            "tcache",
        ],
    ),
    (
        "memcpy, memmove, memcmp",
        &["__mem", "memcpy", "memmove", "memcmp"],
    ),
    ("BTreeMap", &["btree"]),
    (
        "asana_audit_log (AuditLogEvent views, compaction, paging)",
        &["asana_audit_log::"],
    ),
    (
        "serde_json (parsing, RawValue copies)",
        &["serde_json::", "serde_core::", "serde::"],
    ),
    ("UTF-8 validation", &["from_utf8", "validations"]),
    (
        "HTTP and async runtime (hyper, reqwest, tokio, httparse)",
        &[
            "hyper", "reqwest", "tokio", "httparse", "http::", "mio::", "futures", "h2::",
        ],
    ),
    (
        "kernel entry and libc (syscalls)",
        &["syscall", "epoll", "__GI_", "libc"],
    ),
    (
        "TLS set-up at client start (rustls root certificates)",
        &["rustls", "webpki"],
    ),
];

/// Landmarks: a label and a substring of the function name; the largest inclusive count of
/// the functions that match is reported.
pub const LANDMARKS: &[(&str, &str)] = &[
    (
        "`AuditLogEvent::from_raw`: one page's events into `AuditLogEvent`s",
        "AuditLogEvent::from_raw",
    ),
    (
        "of which `compact::scan_object`: the one pass over each event's text",
        "asana_audit_log::compact::scan_object",
    ),
    (
        "the stream's de-duplication of recent gids",
        "RecentGids::insert",
    ),
    (
        "dropping `AuditLogEvent`s after use",
        "drop_in_place<asana_audit_log::event::AuditLogEvent>",
    ),
    (
        "fetching a page (retry wrapper: HTTP, body, page decode into raw events)",
        "backon::retry::Retry",
    ),
];

/// Runs `command` (a drain of `events` events) under callgrind and summarises it. Its binary
/// must keep its symbols and line tables (the `profiling` cargo profile): the release profile
/// strips them, and callgrind could then name neither functions nor source files.
pub fn run(command: Command, events: u64, out_file: &Path) -> Result<Profile> {
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = command
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut valgrind = Command::new("valgrind");
    valgrind
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(program)
        .args(args);
    for (key, value) in envs {
        match value {
            Some(value) => valgrind.env(key, value),
            None => valgrind.env_remove(key),
        };
    }
    let output = valgrind
        .output()
        .context("running valgrind (is it installed?)")?;
    if !output.status.success() {
        bail!(
            "valgrind --tool=callgrind failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let exclusive = annotate(out_file, false)?;
    let inclusive = annotate(out_file, true)?;
    Ok(summarise(&exclusive, &inclusive, events))
}

fn annotate(file: &Path, inclusive: bool) -> Result<String> {
    let output = Command::new("callgrind_annotate")
        .arg(format!(
            "--inclusive={}",
            if inclusive { "yes" } else { "no" }
        ))
        .arg("--threshold=100")
        .arg("--auto=no")
        .arg(file)
        .output()
        .context("running callgrind_annotate")?;
    if !output.status.success() {
        bail!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// One `Ir  file:function [object]` line of `callgrind_annotate`: the count and the function.
fn parse_line(line: &str) -> Option<(u64, &str)> {
    let line = line.trim_start();
    let (count, rest) = line.split_once(' ')?;
    let count: u64 = count.replace(',', "").parse().ok()?;
    // Newer versions print a percentage after the count.
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix('(') {
        Some(after) => after.split_once(')')?.1.trim_start(),
        None => rest,
    };
    if rest == "PROGRAM TOTALS" {
        return Some((count, rest));
    }
    // `file:function`; file names hold no colon, function names may.
    let (_, function) = rest.split_once(':')?;
    let function = match function.rfind(" [") {
        Some(at) if function.ends_with(']') => &function[..at],
        _ => function,
    };
    Some((count, function.trim()))
}

/// Sums counts per function name (callgrind splits a function by source file of inlined code).
fn per_function(text: &str, combine: fn(u64, u64) -> u64) -> (u64, HashMap<String, u64>) {
    let mut total = 0;
    let mut map: HashMap<String, u64> = HashMap::new();
    // The totals line, then the function listing after its `file:function` header, up to the
    // first blank line (anything later, such as annotated source, is not a listing).
    let mut lines = text.lines();
    let mut entries: Vec<(u64, &str)> = lines
        .by_ref()
        .take_while(|line| !line.contains("file:function"))
        .filter_map(parse_line)
        .collect();
    entries.extend(
        lines
            .skip_while(|line| line.starts_with('-'))
            .take_while(|line| !line.trim().is_empty())
            .filter_map(parse_line),
    );
    for (count, function) in entries {
        if function == "PROGRAM TOTALS" {
            total = count;
            continue;
        }
        let entry = map.entry(function.to_owned()).or_insert(0);
        *entry = combine(*entry, count);
    }
    (total, map)
}

/// The kind of work a function name belongs to.
pub fn kind_of(function: &str) -> &'static str {
    let lower = function.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(_, needles)| {
            needles
                .iter()
                .any(|needle| lower.contains(&needle.to_ascii_lowercase()))
        })
        .map_or("other", |(kind, _)| kind)
}

/// Builds the summary from the exclusive and inclusive listings of `callgrind_annotate`.
pub fn summarise(exclusive: &str, inclusive: &str, events: u64) -> Profile {
    let (total, own) = per_function(exclusive, |a, b| a + b);
    let (_, with_callees) = per_function(inclusive, u64::max);
    let mut by_function: Vec<(String, u64)> = own.into_iter().collect();
    by_function.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut kinds: HashMap<&str, u64> = HashMap::new();
    for (function, count) in &by_function {
        *kinds.entry(kind_of(function)).or_insert(0) += count;
    }
    let mut by_kind: Vec<(String, u64)> = kinds
        .into_iter()
        .map(|(kind, count)| (kind.to_owned(), count))
        .collect();
    by_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let landmarks = LANDMARKS
        .iter()
        .filter_map(|(label, needle)| {
            with_callees
                .iter()
                .filter(|(function, _)| function.contains(needle))
                .map(|(_, count)| *count)
                .max()
                .map(|count| ((*label).to_owned(), count))
        })
        .collect();
    Profile {
        events,
        total,
        by_function,
        by_kind,
        landmarks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXCLUSIVE: &str = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
1,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
400 (40.0%)  ./malloc/./malloc/malloc.c:_int_malloc [/usr/lib/libc.so.6]
300 (30.0%)  crates/asana-audit-log/src/compact.rs:asana_audit_log::event::AuditLogEvent::from_raw
200  /x/serde_json/src/read.rs:serde_json::read::SliceRead::skip_to_escape [/bin/b]
150 (15.0%)  crates/asana-audit-log/src/event.rs:asana_audit_log::event::AuditLogEvent::from_raw [/bin/b]

--------------------------------------------------------------------------------
-- Auto-annotated source: event.rs
--------------------------------------------------------------------------------
999 (99.9%)  => tokio::runtime::block_on (1x)
";

    const INCLUSIVE: &str = "\
1,000 (100.0%)  PROGRAM TOTALS
900 (90.0%)  crates/asana-audit-log/src/event.rs:asana_audit_log::event::AuditLogEvent::from_raw [/bin/b]
700 (70.0%)  /x/serde_json/src/de.rs:asana_audit_log::event::AuditLogEvent::from_raw
";

    #[test]
    fn sums_a_function_split_over_source_files_and_groups_by_kind() {
        let profile = summarise(EXCLUSIVE, INCLUSIVE, 10);
        assert_eq!(profile.total, 1_000);
        assert_eq!(
            profile.by_function[0],
            (
                "asana_audit_log::event::AuditLogEvent::from_raw".to_owned(),
                450
            )
        );
        assert_eq!(profile.by_function[1], ("_int_malloc".to_owned(), 400));
        assert_eq!(profile.by_kind[0].1, 450);
        assert!(
            profile
                .by_kind
                .iter()
                .any(|(kind, count)| kind.starts_with("serde_json") && *count == 200)
        );
        // Inclusive counts are not summed over files: the largest one stands.
        assert_eq!(profile.landmarks[0].1, 900);
        assert_eq!(profile.landmarks.len(), 1);
    }

    #[test]
    fn classifies_function_names() {
        assert!(kind_of("__memcpy_avx_unaligned_erms").starts_with("memcpy"));
        assert!(
            kind_of("alloc::collections::btree::map::BTreeMap<K,V,A>::get").starts_with("BTreeMap")
        );
        assert!(kind_of("hyper::proto::h1::role::parse_headers").starts_with("HTTP"));
        assert_eq!(kind_of("something_else"), "other");
    }
}
