//! The configuration of `asana-audit run`: several sources in one TOML file.
//!
//! Every value goes through the parser its command-line flag uses (durations, sizes,
//! encodings, actor types, event types), then every source through the checks `follow` makes
//! before its first request (the library's query validation, the destination's parse, the
//! checkpoint and the output). Nothing stops at the first error: all of them are gathered, each
//! with its line and column, and reported together before any source starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use asana_audit_log::{Client, SecretString};
use asana_audit_log_pipeline::Output;
use clap::{Parser, ValueEnum};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cli::{self, FollowArgs, SourceArgs};
use crate::error::CliError;
use crate::export::{self, Mode, Plan};

/// How long a source that failed (the API or the disk) waits before it starts again, unless it
/// says otherwise with `restart_after`.
pub const DEFAULT_RESTART_AFTER: Duration = Duration::from_secs(60);

/// One source, checked and ready to follow.
pub struct Source {
    /// Its `name` (the workspace gid when it has none), which every report about it carries.
    pub name: String,
    /// What `follow` would have been given for it.
    pub args: SourceArgs,
    /// How it is followed: its poll interval and lookback.
    pub mode: Mode,
    /// How long to wait before starting again after a failure.
    pub restart_after: Duration,
    /// Its client, with its own token and rate limit.
    pub client: Client,
    /// Its first run's plan (a restart makes a new one from the checkpoint).
    pub plan: Plan,
}

/// One error in the file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

/// Reads, checks and prepares the sources of the file at `path`. On any error, all of them are
/// in one input error (exit 2), one per line as `FILE:LINE:COLUMN: message`.
pub fn load(path: &Path) -> Result<Vec<Source>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::input(format!("cannot read --config {}: {e}", path.display())))?;
    // Relative paths in the file are relative to the file, made absolute so that reports and
    // checkpoints name them the same whatever the working directory.
    let base = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let mut env = |name: &str| std::env::var(name).ok();
    prepare(&text, &base, &mut env).map_err(|errors| report(path, &errors))
}

/// All errors as one message.
pub fn report(path: &Path, errors: &[ConfigError]) -> CliError {
    let mut message = format!(
        "{} has {} error{}; no source was started",
        path.display(),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for error in errors {
        message.push_str(&format!(
            "\n{}:{}:{}: {}",
            path.display(),
            error.line,
            error.column,
            error.message
        ));
    }
    CliError::input(message)
}

/// The keys a `[[source]]` takes, as the README documents them.
const SOURCE_KEYS: &[&str] = &[
    "name",
    "workspace",
    "token_file",
    "token_env",
    "token_credential",
    "base_url",
    "event_type",
    "allow_unknown_event_type",
    "actor_type",
    "actor_gid",
    "resource_gid",
    "since",
    "start_at",
    "page_size",
    "output",
    "overwrite",
    "checkpoint",
    "checkpoint_every",
    "format",
    "security_lake",
    "encoding",
    "partition",
    "rotate_size",
    "rotate_after",
    "row_group_rows",
    "staging_dir",
    "requests_per_minute",
    "max_retries",
    "poll_interval",
    "lookback",
    "restart_after",
];

/// Where a source's token comes from.
enum TokenRef {
    File(PathBuf),
    Env(String),
    /// A file of `$CREDENTIALS_DIRECTORY`, where systemd's `LoadCredential=` puts it.
    Credential(String),
}

/// A source whose keys all parsed, before its token is read and its plan made.
struct Draft {
    name: String,
    /// Where its `[[source]]` is, for errors about the whole source.
    at: usize,
    args: SourceArgs,
    poll_interval: Duration,
    lookback: Option<Duration>,
    restart_after: Duration,
    token: Option<(TokenRef, usize)>,
    /// Whether every key parsed (else only its token, checkpoint and output are checked).
    usable: bool,
    /// Whether it names an output (else `args.output` is the flag's default).
    has_output: bool,
}

/// Checks the text of a configuration and prepares its sources; `base` resolves relative
/// paths, `env` reads environment variables.
fn prepare(
    text: &str,
    base: &Path,
    env: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<Vec<Source>, Vec<ConfigError>> {
    let mut errors = Errors {
        text,
        list: Vec::new(),
    };
    let (document, syntax) = DeTable::parse_recoverable(text);
    for error in syntax {
        let at = error.span().map_or(0, |span| span.start);
        errors.at(at, error.message().trim().to_string());
    }
    let mut drafts = Vec::new();
    let mut sources_seen = false;
    for (key, value) in document.get_ref() {
        if key.get_ref() != "source" {
            errors.at(
                key.span().start,
                format!(
                    "unknown key `{}`: the file holds [[source]] tables only",
                    key.get_ref()
                ),
            );
            continue;
        }
        sources_seen = true;
        let Some(array) = value.get_ref().as_array() else {
            errors.at(
                value.span().start,
                "`source` is a list of tables: write each as [[source]]".to_string(),
            );
            continue;
        };
        for (index, table) in array.iter().enumerate() {
            match table.get_ref().as_table() {
                Some(keys) => {
                    if let Some(draft) = source(keys, table.span().start, index, base, &mut errors)
                    {
                        drafts.push(draft);
                    }
                }
                None => errors.at(
                    table.span().start,
                    "each source is a table: write it as [[source]]".to_string(),
                ),
            }
        }
    }
    if !sources_seen && errors.list.is_empty() {
        errors.at(0, "no [[source]]: nothing to follow".to_string());
    }
    let sources = finish(drafts, env, &mut errors);
    if errors.list.is_empty() {
        Ok(sources)
    } else {
        let mut list = errors.list;
        list.sort_by_key(|e| (e.line, e.column));
        list.dedup();
        Err(list)
    }
}

/// Errors gathered with their positions.
struct Errors<'t> {
    text: &'t str,
    list: Vec<ConfigError>,
}

impl Errors<'_> {
    /// An error at byte offset `at`.
    fn at(&mut self, at: usize, message: String) {
        let before = &self.text[..at.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |last| last.chars().count())
            + 1;
        self.list.push(ConfigError {
            line,
            column,
            message,
        });
    }
}

/// The defaults of `follow`, from its own flags (so the two cannot drift apart).
#[derive(Parser)]
struct FollowDefaults {
    #[command(flatten)]
    follow: FollowArgs,
}

/// Reads one `[[source]]`; `None` when any of its keys is wrong (each reported).
fn source(
    keys: &DeTable<'_>,
    at: usize,
    index: usize,
    base: &Path,
    errors: &mut Errors<'_>,
) -> Option<Draft> {
    let defaults = FollowDefaults::try_parse_from(["run", "--workspace", ""])
        .expect("follow's defaults parse")
        .follow;
    let mut args = defaults.source;
    let mut draft = Draft {
        name: String::new(),
        at,
        args: args.clone(),
        poll_interval: defaults.poll_interval,
        lookback: defaults.lookback,
        restart_after: DEFAULT_RESTART_AFTER,
        token: None,
        usable: true,
        has_output: false,
    };
    let before = errors.list.len();
    let mut name = None;
    // Where each key's value is, for errors found once all are read.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, value) in keys {
        let at = value.span().start;
        let k = key.get_ref().as_ref();
        seen.insert(k.to_string(), at);
        let result: Result<(), String> = (|| {
            match k {
                "name" => name = Some(string(value)?),
                "workspace" => args.workspace = gid(value)?,
                "token_file" => {
                    set_token(&mut draft, TokenRef::File(path(value, base)?), at)?;
                }
                "token_env" => {
                    let var = string(value)?;
                    if var.is_empty() || var.contains('=') || var.contains('\0') {
                        return Err(format!("{var:?} is not an environment variable's name"));
                    }
                    set_token(&mut draft, TokenRef::Env(var), at)?;
                }
                "token_credential" => {
                    let name = string(value)?;
                    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                        return Err(format!("{name:?} is not a credential's name"));
                    }
                    set_token(&mut draft, TokenRef::Credential(name), at)?;
                }
                "base_url" => {
                    let url = string(value)?;
                    // The client's own check (HTTPS unless the host is loopback), with a token
                    // that is never sent.
                    Client::builder()
                        .token(SecretString::from("unused".to_string()))
                        .base_url(&url)
                        .build()
                        .map_err(|e| CliError::from(e).message)?;
                    args.base_url = url;
                }
                "event_type" => {
                    let text = string(value)?;
                    // Checked once every key is read: allow_unknown_event_type may follow.
                    args.event_type = Some(text);
                }
                "allow_unknown_event_type" => args.allow_unknown_event_type = boolean(value)?,
                "actor_type" => args.actor_type = Some(cli::parse_actor_type(&string(value)?)?),
                "actor_gid" => args.actor_gid = Some(gid(value)?),
                "resource_gid" => args.resource_gid = Some(gid(value)?),
                "since" => args.since = Some(cli::parse_duration(&string(value)?)?),
                "start_at" => args.start_at = Some(cli::parse_time(&time(value)?)?),
                "page_size" => args.page_size = integer(value, 1, 100)? as u32,
                "output" => {
                    let text = string(value)?;
                    if text == "-" {
                        return Err(
                            "standard output is not a destination for `run` (the sources' \
                             events would interleave); give a file, directory or URL"
                                .to_string(),
                        );
                    }
                    // A trailing / (which says "directory") survives the join.
                    args.output = if text.contains("://") {
                        PathBuf::from(text)
                    } else {
                        base.join(&text)
                    };
                }
                "overwrite" => args.overwrite = boolean(value)?,
                "checkpoint" => {
                    args.checkpoint = Some(path(value, base)?);
                }
                "checkpoint_every" => args.checkpoint_every = integer(value, 1, u64::MAX)?,
                "format" => args.archive.format = choice::<cli::Format>(value)?,
                "security_lake" => {
                    args.archive.security_lake = Some(cli::parse_security_lake(&string(value)?)?);
                }
                "encoding" => args.archive.encoding = Some(cli::parse_encoding(&string(value)?)?),
                "partition" => args.archive.partition = choice::<cli::PartitionBy>(value)?,
                "rotate_size" => {
                    args.archive.rotate_size = match value.get_ref() {
                        DeValue::Integer(_) => integer(value, 1, u64::MAX)?,
                        _ => cli::parse_size(&string(value)?)?,
                    }
                }
                "rotate_after" => args.archive.rotate_after = cli::parse_duration(&string(value)?)?,
                "row_group_rows" => args.archive.row_group_rows = integer(value, 1, u64::MAX)?,
                "staging_dir" => args.archive.staging_dir = Some(path(value, base)?),
                "requests_per_minute" => {
                    args.requests_per_minute = integer(value, 0, u64::from(u32::MAX))? as u32;
                }
                "max_retries" => args.max_retries = integer(value, 0, 1_000)? as u32,
                "poll_interval" => draft.poll_interval = cli::parse_duration(&string(value)?)?,
                "lookback" => draft.lookback = Some(cli::parse_duration(&string(value)?)?),
                "restart_after" => draft.restart_after = cli::parse_duration(&string(value)?)?,
                _ => {
                    return Err(unknown_key(k));
                }
            }
            Ok(())
        })();
        if let Err(message) = result {
            let at = if SOURCE_KEYS.contains(&k) {
                at
            } else {
                key.span().start
            };
            let message = if SOURCE_KEYS.contains(&k) {
                format!("`{k}`: {message}")
            } else {
                message
            };
            errors.at(at, message);
        }
    }
    if let Some(text) = &args.event_type
        && let Err(message) = cli::resolve_event_type(text, args.allow_unknown_event_type)
    {
        let at = seen.get("event_type").copied().unwrap_or(at);
        errors.at(at, format!("`event_type`: {message}"));
    }
    for (one, other) in cli::CONFLICTS {
        if seen.contains_key(*one)
            && let Some(&other_at) = seen.get(*other)
        {
            errors.at(
                other_at,
                format!("`{other}`: give {one} or {other}, not both"),
            );
        }
    }
    let label = name.clone().unwrap_or_else(|| {
        if args.workspace.is_empty() {
            format!("#{}", index + 1)
        } else {
            args.workspace.clone()
        }
    });
    for (missing, what) in [
        (
            !seen.contains_key("workspace"),
            "`workspace` (the workspace gid)",
        ),
        (
            !["token_file", "token_env", "token_credential"]
                .iter()
                .any(|k| seen.contains_key(*k)),
            "`token_file`, `token_env` or `token_credential` (where its token is)",
        ),
        (
            !seen.contains_key("output"),
            "`output` (a file, directory or URL)",
        ),
        (
            !seen.contains_key("checkpoint"),
            "`checkpoint` (a file of its own: a source restarts from it)",
        ),
    ] {
        if missing {
            errors.at(at, format!("source {label} has no {what}"));
        }
    }
    draft.usable = errors.list.len() == before;
    draft.has_output = seen.contains_key("output") && args.output.as_os_str() != "-";
    draft.name = label;
    draft.args = args;
    Some(draft)
}

/// Reads the tokens, refuses shared checkpoints and destinations, builds each client and plan.
fn finish(
    drafts: Vec<Draft>,
    env: &mut dyn FnMut(&str) -> Option<String>,
    errors: &mut Errors<'_>,
) -> Vec<Source> {
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut checkpoints: HashMap<PathBuf, usize> = HashMap::new();
    let mut destinations: HashMap<String, usize> = HashMap::new();
    let mut sources = Vec::new();
    for draft in drafts {
        let before = errors.list.len();
        let line_of = |errors: &Errors<'_>, at: usize| {
            errors.text[..at.min(errors.text.len())]
                .matches('\n')
                .count()
                + 1
        };
        if let Some(&first) = names.get(&draft.name) {
            let line = line_of(errors, first);
            errors.at(
                draft.at,
                format!(
                    "two sources are named {} (the other at line {line}); give each its own `name`",
                    draft.name
                ),
            );
        } else {
            names.insert(draft.name.clone(), draft.at);
        }
        if let Some(path) = &draft.args.checkpoint
            && let Some(&first) = checkpoints.get(&normalize(path))
        {
            let line = line_of(errors, first);
            errors.at(
                draft.at,
                format!(
                    "source {} shares its checkpoint {} with the source at line {line}; each \
                     source needs its own",
                    draft.name,
                    path.display()
                ),
            );
        }
        if let Some(path) = &draft.args.checkpoint {
            checkpoints.entry(normalize(path)).or_insert(draft.at);
        }
        match destination_key(&draft.args) {
            _ if !draft.has_output => {}
            Ok(key) => {
                if let Some(&first) = destinations.get(&key) {
                    let line = line_of(errors, first);
                    errors.at(
                        draft.at,
                        format!(
                            "source {} shares its output {} with the source at line {line}; \
                             each source needs its own",
                            draft.name,
                            draft.args.output.display()
                        ),
                    );
                } else {
                    destinations.insert(key, draft.at);
                }
            }
            Err(e) if draft.usable => {
                errors.at(draft.at, format!("source {}: {}", draft.name, e.message));
            }
            Err(_) => {}
        }
        let token = match &draft.token {
            Some((token, at)) => match read_token(token, env) {
                Ok(token) => Some(token),
                Err(message) => {
                    errors.at(*at, format!("source {}: {message}", draft.name));
                    None
                }
            },
            None => None,
        };
        if errors.list.len() > before || !draft.usable {
            continue;
        }
        let Some(token) = token else { continue };
        let mode = Mode::Follow {
            interval: draft.poll_interval,
            lookback: draft.lookback,
        };
        let prepared = export::client(&draft.args, mode, token, Some(&draft.name))
            .and_then(|client| Plan::new(&draft.args, &client, mode).map(|plan| (client, plan)));
        match prepared {
            Ok((client, plan)) => sources.push(Source {
                name: draft.name,
                args: draft.args,
                mode,
                restart_after: draft.restart_after,
                client,
                plan,
            }),
            Err(e) => errors.at(draft.at, format!("source {}: {}", draft.name, e.message)),
        }
    }
    sources
}

/// What makes two outputs the same: the destination's URL, or the file's path.
fn destination_key(args: &SourceArgs) -> Result<String, CliError> {
    Ok(match crate::archive::output(&args.output, &args.archive)? {
        Output::Archive(destination) => destination.url().trim_end_matches('/').to_owned(),
        _ => normalize(&args.output).display().to_string(),
    })
}

/// A path made absolute and without `.` and `..`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn set_token(draft: &mut Draft, token: TokenRef, at: usize) -> Result<(), String> {
    if draft.token.is_some() {
        return Err("give one of token_file, token_env and token_credential".to_string());
    }
    draft.token = Some((token, at));
    Ok(())
}

/// Reads a source's token (never printed).
fn read_token(
    token: &TokenRef,
    env: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<SecretString, String> {
    let text = match token {
        TokenRef::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read token_file {}: {e}", path.display()))?,
        TokenRef::Env(var) => {
            env(var).ok_or_else(|| format!("token_env {var} is not set in the environment"))?
        }
        TokenRef::Credential(name) => {
            let dir = env("CREDENTIALS_DIRECTORY").ok_or_else(|| {
                format!(
                    "token_credential {name}: CREDENTIALS_DIRECTORY is not set (systemd sets it \
                     for a unit with LoadCredential=); outside systemd use token_file"
                )
            })?;
            let path = Path::new(&dir).join(name);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read credential {}: {e}", path.display()))?
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(match token {
            TokenRef::File(path) => format!("token_file {} is empty", path.display()),
            TokenRef::Env(var) => format!("token_env {var} is empty"),
            TokenRef::Credential(name) => format!("token_credential {name} is empty"),
        });
    }
    Ok(SecretString::from(text.to_string()))
}

fn unknown_key(key: &str) -> String {
    let closest = SOURCE_KEYS
        .iter()
        .map(|known| (strsim::jaro_winkler(key, known), *known))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score > 0.8)
        .map(|(_, known)| format!("; did you mean `{known}`?"))
        .unwrap_or_default();
    format!("unknown key `{key}` in [[source]]{closest}")
}

fn string(value: &Spanned<DeValue<'_>>) -> Result<String, String> {
    value
        .get_ref()
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("expected a string, found {}", value.get_ref().type_str()))
}

/// A gid: a string, or a bare integer (which TOML would otherwise keep as a number).
fn gid(value: &Spanned<DeValue<'_>>) -> Result<String, String> {
    match value.get_ref() {
        DeValue::Integer(i) if i.radix() == 10 => Ok(i.as_str().to_string()),
        _ => string(value),
    }
}

/// A time: a TOML date-time, or a string.
fn time(value: &Spanned<DeValue<'_>>) -> Result<String, String> {
    match value.get_ref().as_datetime() {
        Some(datetime) => Ok(datetime.to_string()),
        None => string(value),
    }
}

fn path(value: &Spanned<DeValue<'_>>, base: &Path) -> Result<PathBuf, String> {
    let text = string(value)?;
    if text.is_empty() {
        return Err("expected a path, found an empty string".to_string());
    }
    Ok(base.join(text))
}

fn boolean(value: &Spanned<DeValue<'_>>) -> Result<bool, String> {
    value.get_ref().as_bool().ok_or_else(|| {
        format!(
            "expected true or false, found {}",
            value.get_ref().type_str()
        )
    })
}

fn integer(value: &Spanned<DeValue<'_>>, min: u64, max: u64) -> Result<u64, String> {
    let Some(i) = value.get_ref().as_integer() else {
        return Err(format!(
            "expected an integer, found {}",
            value.get_ref().type_str()
        ));
    };
    u64::from_str_radix(i.as_str(), i.radix())
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{} is not between {min} and {max}", i.as_str()))
}

/// One of a flag's values (`format`, `partition`), spelled as on the command line.
fn choice<T: ValueEnum>(value: &Spanned<DeValue<'_>>) -> Result<T, String> {
    let text = string(value)?;
    T::from_str(&text, false).map_err(|_| {
        let known: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        format!("{text:?} is not one of: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str, env: &[(&str, &str)]) -> Vec<ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut env = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match prepare(text, dir.path(), &mut env) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    #[test]
    fn positions_are_lines_and_columns_of_characters() {
        let found = errors("[[source]]\nworkspace = \"1\"\n  bogus = 1\n", &[]);
        let bogus = found.iter().find(|e| e.message.contains("bogus")).unwrap();
        assert_eq!((bogus.line, bogus.column), (3, 3));
    }

    #[test]
    fn a_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("acme"), "secret\n").unwrap();
        let text = "[[source]]\nworkspace = \"1\"\ntoken_credential = \"acme\"\n\
                    output = \"a.ndjson\"\ncheckpoint = \"a.ckpt\"\n";
        let credentials = dir.path().display().to_string();
        let mut env = |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| credentials.clone());
        assert!(prepare(text, dir.path(), &mut env).is_ok());
        let found = errors(text, &[]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .message
                .contains("CREDENTIALS_DIRECTORY is not set")
        );
        assert_eq!(found[0].line, 3);
    }

    #[test]
    fn the_readme_example_prepares() {
        let readme = include_str!("../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|block| block.split("```").next())
            .expect("a TOML example in the README");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(dir.path().join("tokens/acme"), "secret").unwrap();
        let mut env = |name: &str| (name == "GLOBEX_TOKEN").then(|| "secret".to_string());
        let sources = prepare(example, dir.path(), &mut env)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(sources.len(), 2);
    }

    #[test]
    fn a_valid_source_prepares() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[source]]\nname = \"a\"\nworkspace = 12\ntoken_env = \"T\"\n\
                    output = \"a.ndjson\"\ncheckpoint = \"a.ckpt\"\nbase_url = \"http://127.0.0.1:9\"\n";
        let mut env = |name: &str| (name == "T").then(|| "secret".to_string());
        let sources = prepare(text, dir.path(), &mut env)
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].name, "a");
        assert_eq!(sources[0].args.workspace, "12");
        assert_eq!(sources[0].args.output, dir.path().join("a.ndjson"));
    }
}
