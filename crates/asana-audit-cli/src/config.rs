//! The configuration of `asana-audit run`: several sources in one TOML file.
//!
//! A `[[source]]` is `follow`'s command line written as TOML. Its own keys (`name`, where
//! its token is, `restart_after`) are read here; every other key is the `follow` flag of the
//! same name (`_` for `-`), checked by that flag's parser and then parsed with the others by
//! `follow`'s clap definition into the same [`FollowArgs`] the command line gives. A new flag
//! is a new key, with nothing to add here. Every source then goes through the checks `follow`
//! makes before its first request (the library's query validation, the destination's parse,
//! the checkpoint and the output). Nothing stops at the first error: all of them are gathered,
//! each with its line and column, and reported together before any source starts.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use asana_audit_log::{Client, SecretString};
use asana_audit_log_pipeline::{Alerting, Output};
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, ValueHint};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cli::{self, FollowArgs, SourceArgs};
use crate::error::{CliError, Failure};
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
    /// Its first run's plan (a restart makes a new one from the checkpoint); `None` while
    /// another run (another replica of the same configuration) holds its checkpoint.
    pub plan: Option<Plan>,
    /// Its rules and alert targets (`alert_webhook`, `rules`, ... keys), if it alerts.
    pub alerting: Option<Alerting>,
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
pub async fn load(path: &Path) -> Result<Vec<Source>, CliError> {
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
    prepare(&text, &base, &mut env)
        .await
        .map_err(|errors| report(path, &errors))
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

/// The keys of a `[[source]]` that are not `follow` flags.
const OWN_KEYS: &[&str] = &[
    "name",
    "token_file",
    "token_env",
    "token_credential",
    "restart_after",
];

/// The `follow` flags a `[[source]]` does not take, and why.
const NOT_SOURCE_KEYS: &[(&str, &str)] = &[
    ("end_at", "a source follows the log, which has no end"),
    ("max_events", "a source runs until `run` stops"),
    ("progress", "`run` shows no progress; it logs each source"),
    (
        "metrics_addr",
        "`run --metrics-addr` serves the metrics of every source at one address",
    ),
    (
        "alert_silence",
        "`run --alert-silence` sets the silence alarm of every source",
    ),
    ("help", "it is not an option"),
];

/// `follow`'s command-line definition, which every other key of a `[[source]]` goes through.
fn follow_command() -> clap::Command {
    FollowDefaults::command().args_override_self(true)
}

/// Every key a `[[source]]` takes: `follow`'s flags (`_` for `-`) and its own.
fn source_keys(command: &clap::Command) -> Vec<&str> {
    let flags = command
        .get_arguments()
        .map(|arg| arg.get_id().as_str())
        .filter(|id| !NOT_SOURCE_KEYS.iter().any(|(key, _)| key == id));
    let mut keys: Vec<&str> = OWN_KEYS.iter().copied().chain(flags).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The command-line words for the flag `arg` set to `value` by a configuration key, its value
/// checked by the flag's own parser. A path is made relative to `base`.
fn flag_words(
    command: &clap::Command,
    arg: &clap::Arg,
    value: &Spanned<DeValue<'_>>,
    base: &Path,
) -> Result<Vec<OsString>, String> {
    let flag = OsString::from(format!(
        "--{}",
        arg.get_long().unwrap_or(arg.get_id().as_str())
    ));
    if !arg.get_action().takes_values() {
        return Ok(if boolean(value)? {
            vec![flag]
        } else {
            Vec::new()
        });
    }
    // A flag given several times takes a list of its values, or a table of `KEY=VALUE` ones.
    let repeats = matches!(arg.get_action(), clap::ArgAction::Append);
    let texts = match value.get_ref() {
        DeValue::Array(items) if repeats => items
            .iter()
            .map(|item| scalar(item.get_ref()))
            .collect::<Result<Vec<_>, _>>()?,
        DeValue::Table(entries) if repeats => entries
            .iter()
            .map(|(key, item)| Ok(format!("{}={}", key.get_ref(), scalar(item.get_ref())?)))
            .collect::<Result<Vec<_>, String>>()?,
        other => vec![scalar(other)?],
    };
    let is_path = matches!(
        arg.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
    );
    let mut words = Vec::new();
    for mut text in texts {
        if is_path && text.is_empty() {
            return Err("expected a path, found an empty string".to_string());
        }
        // A URL stays as it is; a trailing / (which says "directory") survives the join.
        if is_path && !text.contains("://") {
            text = base.join(&text).display().to_string();
        }
        words.extend([flag.clone(), OsString::from(text)]);
    }
    // The flag alone, for an error about its value; how it goes with the other keys is
    // checked once all are read.
    let alone = ["run".into(), "--workspace".into(), OsString::new()]
        .into_iter()
        .chain(words.iter().cloned());
    match command.clone().try_get_matches_from(alone) {
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            Err(clap_message(&error))
        }
        _ => Ok(words),
    }
}

/// A configuration value as a flag's text: a string, or a number or date-time as written.
fn scalar(value: &DeValue<'_>) -> Result<String, String> {
    Ok(match value {
        DeValue::String(text) => text.to_string(),
        // TOML keeps a bare gid or count as a number, and a bare time as a date-time.
        DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
            .map_or_else(|_| i.as_str().to_string(), |n| n.to_string()),
        DeValue::Datetime(datetime) => datetime.to_string(),
        other => return Err(format!("expected a string, found {}", other.type_str())),
    })
}

/// What a clap error says of a value, without clap's decoration: the flag's parser's own
/// message, or the values a choice takes.
fn clap_message(error: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(source) = std::error::Error::source(error) {
        return source.to_string();
    }
    if let (Some(ContextValue::String(value)), Some(ContextValue::Strings(valid))) = (
        error.get(ContextKind::InvalidValue),
        error.get(ContextKind::ValidValue),
    ) {
        return format!("{value:?} is not one of: {}", valid.join(", "));
    }
    // Clap's own sentence, on one line, without its usage and help lines.
    let rendered = error.render().to_string();
    let sentence: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:"))
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    sentence.join(" ").trim_start_matches("error: ").to_string()
}

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
    /// What `follow` would have been given for it.
    follow: FollowArgs,
    restart_after: Duration,
    token: Option<(TokenRef, usize)>,
    /// Whether every key parsed (else only its token, checkpoint and output are checked).
    usable: bool,
    /// Whether it names an output (else `follow.source.output` is the flag's default).
    has_output: bool,
}

/// Checks the text of a configuration and prepares its sources; `base` resolves relative
/// paths, `env` reads environment variables.
async fn prepare(
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
                    drafts.push(source(keys, table.span().start, index, base, &mut errors));
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
    let sources = finish(drafts, env, &mut errors).await;
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

/// Reads one `[[source]]`: its own keys here, every other key as the `follow` flag of its name,
/// through that flag's parser, then all of them together into `follow`'s arguments. Each wrong
/// key is reported; the draft is `usable` only when none is.
fn source(
    keys: &DeTable<'_>,
    at: usize,
    index: usize,
    base: &Path,
    errors: &mut Errors<'_>,
) -> Draft {
    let command = follow_command();
    let known = source_keys(&command);
    let before = errors.list.len();
    let mut words: Vec<OsString> = vec!["run".into()];
    let mut name = None;
    let mut token = None;
    let mut restart_after = DEFAULT_RESTART_AFTER;
    // Where each key's value is, for errors found once all are read.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, value) in keys {
        let at = value.span().start;
        let k = key.get_ref().as_ref();
        seen.insert(k.to_string(), at);
        let result = match k {
            "name" => string(value).map(|text| name = Some(text)),
            "token_file" => {
                path(value, base).and_then(|path| set_token(&mut token, TokenRef::File(path), at))
            }
            "token_env" => string(value).and_then(|var| {
                if var.is_empty() || var.contains('=') || var.contains('\0') {
                    return Err(format!("{var:?} is not an environment variable's name"));
                }
                set_token(&mut token, TokenRef::Env(var), at)
            }),
            "token_credential" => string(value).and_then(|name| {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(format!("{name:?} is not a credential's name"));
                }
                set_token(&mut token, TokenRef::Credential(name), at)
            }),
            "restart_after" => string(value)
                .and_then(|text| cli::parse_duration(&text))
                .map(|duration| restart_after = duration),
            "output" if value.get_ref().as_str() == Some("-") => Err(
                "standard output is not a destination for `run` (the sources' events would \
                 interleave); give a file, directory or URL"
                    .to_string(),
            ),
            _ => match command.get_arguments().find(|arg| arg.get_id() == k) {
                Some(arg) if known.contains(&k) => {
                    flag_words(&command, arg, value, base).map(|more| words.extend(more))
                }
                _ => {
                    let message = match NOT_SOURCE_KEYS.iter().find(|(key, _)| *key == k) {
                        Some((_, why)) => {
                            format!("`{k}` is not a key of a [[source]]: {why}")
                        }
                        None => unknown_key(k, &known),
                    };
                    errors.at(key.span().start, message);
                    continue;
                }
            },
        };
        if let Err(message) = result {
            errors.at(at, format!("`{k}`: {message}"));
        }
    }
    let label = name.unwrap_or_else(|| match keys.get("workspace").map(gid_text) {
        Some(Some(workspace)) => workspace,
        _ => format!("#{}", index + 1),
    });
    if !seen.contains_key("workspace") {
        words.extend(["--workspace".into(), OsString::new()]);
    }
    let follow = match follow_command().try_get_matches_from(&words) {
        Ok(matches) => FollowDefaults::from_arg_matches(&matches).map(|parsed| parsed.follow),
        Err(error) => Err(error),
    };
    let follow = follow.unwrap_or_else(|error| {
        errors.at(at, format!("source {label}: {}", clap_message(&error)));
        FollowDefaults::try_parse_from(["run", "--workspace", ""])
            .expect("follow's defaults parse")
            .follow
    });
    if let Some(text) = &follow.source.filters.event_type
        && let Err(message) =
            cli::resolve_event_type(text, follow.source.filters.allow_unknown_event_type)
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
            !seen.contains_key("output") && !seen.contains_key("security_lake"),
            "`output` (a file, directory or URL) or `security_lake`",
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
    Draft {
        name: label,
        at,
        usable: errors.list.len() == before,
        has_output: seen.contains_key("output"),
        follow,
        restart_after,
        token,
    }
}

/// Reads the tokens, refuses shared checkpoints and destinations, builds each client and plan.
async fn finish(
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
        if let Some(path) = &draft.follow.source.checkpoint
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
        if let Some(path) = &draft.follow.source.checkpoint {
            checkpoints.entry(normalize(path)).or_insert(draft.at);
        }
        match destination_key(&draft.follow.source) {
            // Sources of several workspaces may share a Security Lake: their events land in
            // files of their own, each source's commits touch only those.
            _ if !draft.has_output || draft.follow.source.archive.security_lake.is_some() => {}
            Ok(key) => {
                if let Some(&first) = destinations.get(&key) {
                    let line = line_of(errors, first);
                    errors.at(
                        draft.at,
                        format!(
                            "source {} shares its output {} with the source at line {line}; \
                             each source needs its own",
                            draft.name,
                            draft.follow.source.output.display()
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
        // The rules are loaded and checked here, so `run --check` refuses a bad one.
        let alerting = match crate::detect::alerting(&draft.follow.alerts) {
            Ok(alerting) => alerting,
            Err(e) => {
                errors.at(draft.at, format!("source {}: {}", draft.name, e.message));
                continue;
            }
        };
        let mode = Mode::follow(&draft.follow);
        let args = draft.follow.source;
        let client = match export::client(&args, mode, token, Some(&draft.name)) {
            Ok(client) => client,
            Err(e) => {
                errors.at(draft.at, format!("source {}: {}", draft.name, e.message));
                continue;
            }
        };
        let plan = match Plan::new(&args, &client, mode, alerting.clone(), Some(&draft.name)).await
        {
            Ok(plan) => Some(plan),
            // Another replica of this configuration holds it: it stands by (see `run`).
            Err(e) if e.failure == Failure::Locked => None,
            Err(e) => {
                errors.at(draft.at, format!("source {}: {}", draft.name, e.message));
                continue;
            }
        };
        sources.push(Source {
            name: draft.name,
            args,
            mode,
            restart_after: draft.restart_after,
            client,
            plan,
            alerting,
        });
    }
    sources
}

/// What makes two outputs the same: the destination's URL, or the file's path.
fn destination_key(args: &SourceArgs) -> Result<String, CliError> {
    Ok(
        match crate::archive::output(Some(&args.output), &args.archive)? {
            Output::Archive(destination) => destination.url().trim_end_matches('/').to_owned(),
            _ => normalize(&args.output).display().to_string(),
        },
    )
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

/// Sets where the token comes from, unless another key said it already.
fn set_token(
    token: &mut Option<(TokenRef, usize)>,
    from: TokenRef,
    at: usize,
) -> Result<(), String> {
    if token.is_some() {
        return Err("give one of token_file, token_env and token_credential".to_string());
    }
    *token = Some((from, at));
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

/// An unknown key, with the closest of the `known` ones.
fn unknown_key(key: &str, known: &[&str]) -> String {
    let closest = known
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

/// A gid's text: a string, or a bare integer (which TOML keeps as a number).
fn gid_text(value: &Spanned<DeValue<'_>>) -> Option<String> {
    match value.get_ref() {
        DeValue::Integer(i) if i.radix() == 10 => Some(i.as_str().to_string()),
        other => other.as_str().map(str::to_string),
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn errors(text: &str, env: &[(&str, &str)]) -> Vec<ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut env = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        match prepare(text, dir.path(), &mut env).await {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    #[tokio::test]
    async fn positions_are_lines_and_columns_of_characters() {
        let found = errors("[[source]]\nworkspace = \"1\"\n  bogus = 1\n", &[]).await;
        let bogus = found.iter().find(|e| e.message.contains("bogus")).unwrap();
        assert_eq!((bogus.line, bogus.column), (3, 3));
    }

    #[tokio::test]
    async fn a_credential_is_read_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("acme"), "secret\n").unwrap();
        let text = "[[source]]\nworkspace = \"1\"\ntoken_credential = \"acme\"\n\
                    output = \"a.ndjson\"\ncheckpoint = \"a.ckpt\"\n";
        let credentials = dir.path().display().to_string();
        let mut env = |name: &str| (name == "CREDENTIALS_DIRECTORY").then(|| credentials.clone());
        assert!(prepare(text, dir.path(), &mut env).await.is_ok());
        let found = errors(text, &[]).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .message
                .contains("CREDENTIALS_DIRECTORY is not set")
        );
        assert_eq!(found[0].line, 3);
    }

    #[tokio::test]
    async fn the_readme_example_prepares() {
        let example = readme_toml("## Many workspaces in one process");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(dir.path().join("tokens/acme"), "secret").unwrap();
        let mut env = |name: &str| (name == "GLOBEX_TOKEN").then(|| "secret".to_string());
        let sources = prepare(example, dir.path(), &mut env)
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(sources.len(), 2);
    }

    /// The first TOML example of the README's section that starts with `heading`.
    fn readme_toml(heading: &str) -> &'static str {
        include_str!("../README.md")
            .split(heading)
            .nth(1)
            .and_then(|section| section.split("```toml\n").nth(1))
            .and_then(|block| block.split("```").next())
            .unwrap_or_else(|| panic!("no TOML example under {heading:?} in the README"))
    }

    /// The first `[[source]]` of `text` read (its keys only: no token, plan or request), and
    /// the errors found.
    fn first_draft(text: &str) -> (Draft, Vec<ConfigError>) {
        let (document, syntax) = DeTable::parse_recoverable(text);
        assert!(syntax.is_empty(), "{syntax:?}");
        let sources = document.get_ref()["source"].get_ref().as_array().unwrap();
        let keys = sources.iter().next().unwrap().get_ref().as_table().unwrap();
        let mut errors = Errors {
            text,
            list: Vec::new(),
        };
        let draft = source(keys, 0, 0, Path::new("/etc/asana"), &mut errors);
        (draft, errors.list)
    }

    /// The README's Security Lake source reads into the lake its command line gives: a source
    /// per class from the table of `security_lake_source`, the fallback in the same bucket.
    #[test]
    fn the_readme_security_lake_source_reads_into_a_lake() {
        let example = readme_toml("## OCSF and Amazon Security Lake");
        let (draft, errors) = first_draft(example);
        assert!(errors.is_empty(), "{errors:?}");
        let archive = &draft.follow.source.archive;
        assert_eq!(archive.security_lake_source.len(), 7);
        let options = crate::archive::options(archive).unwrap();
        assert!(matches!(
            options.layout,
            asana_audit_log_pipeline::Layout::SecurityLake(_)
        ));
        assert_eq!(options.max_file_bytes, 256 << 20);
        let fallback = crate::archive::fallback(archive).unwrap().unwrap();
        assert_eq!(fallback.url(), "s3://acme-audit/asana-unmapped");

        // A relative fallback destination is relative to the file, as other paths are.
        let relative = example.replace("s3://acme-audit/asana-unmapped/", "unmapped/");
        let (draft, errors) = first_draft(&relative);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            draft.follow.source.archive.fallback_output.as_deref(),
            Some(Path::new("/etc/asana/unmapped/"))
        );

        // A list of CLASS=LOCATION is read the same; each value goes through the flag's
        // parser.
        let text = "[[source]]\nworkspace = 12\ntoken_env = \"T\"\ncheckpoint = \"a.ckpt\"\n\
                    security_lake = \"eu-west-1:123456789012\"\n\
                    security_lake_source = [\"3002=s3://lake/ext/a/\", \"auth=s3://lake/ext/b/\"]\n";
        let (_, errors) = first_draft(text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 6);
        assert!(
            errors[0]
                .message
                .starts_with("`security_lake_source`: \"auth\" is not an OCSF class"),
            "{errors:?}"
        );
    }

    /// The README's collector with no disk reads without error, its output and checkpoint
    /// URLs and only its staging folder local.
    #[test]
    fn the_readme_collector_with_no_disk_reads() {
        let example = readme_toml("### With no disk: state in the bucket");
        let (draft, errors) = first_draft(example);
        assert!(errors.is_empty(), "{errors:?}");
        let args = &draft.follow.source;
        assert!(asana_audit_log_pipeline::is_url(
            &args.output.to_string_lossy()
        ));
        let checkpoint = args.checkpoint.as_ref().unwrap();
        assert!(asana_audit_log_pipeline::is_url(
            &checkpoint.to_string_lossy()
        ));
        assert_eq!(
            args.archive.staging_dir.as_deref(),
            Some(Path::new("/tmp/asana-audit"))
        );
    }

    /// The README lists every key a source takes, and no other.
    #[test]
    fn the_readme_lists_every_key() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("taking the same values:")
            .expect("the README's list of keys");
        let end = start + readme[start..].find("Relative paths").expect("its end");
        let mut listed: Vec<&str> = readme[start..end]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| word.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        listed.sort_unstable();
        listed.dedup();
        let command = follow_command();
        assert_eq!(listed, source_keys(&command));
    }

    /// Values are the flags' own: bare numbers and times, the flag's parser's messages, its
    /// relations with other flags, and the flags a source does not take.
    #[tokio::test]
    async fn keys_are_follow_flags() {
        let dir = tempfile::tempdir().unwrap();
        let head = "[[source]]\nworkspace = 12\ntoken_env = \"T\"\noutput = \"a/\"\n\
                    checkpoint = \"a.ckpt\"\nbase_url = \"http://127.0.0.1:9\"\n";
        let mut env = |name: &str| (name == "T").then(|| "secret".to_string());
        let text = format!(
            "{head}start_at = 2026-11-01T00:00:00Z\npage_size = 50\nrotate_size = 1048576\n\
             encoding = \"parquet\"\nstaging_dir = \"stage\"\noverwrite = true\n"
        );
        let sources = prepare(&text, dir.path(), &mut env)
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let args = &sources[0].args;
        assert_eq!(args.page_size, 50);
        assert_eq!(args.archive.rotate_size, Some(1 << 20));
        assert_eq!(
            args.start_at.unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(args.archive.staging_dir, Some(dir.path().join("stage")));
        assert_eq!(args.output, dir.path().join("a/"));
        assert!(args.overwrite);

        let text = format!(
            "{head}allow_unknown_event_type = true\nend_at = \"2026-11-02\"\npage_size = 0\n\
             rotate_after = 5\nformat = \"cef\"\n"
        );
        let found: Vec<(usize, String)> = errors(&text, &[("T", "secret")])
            .await
            .into_iter()
            .map(|e| (e.line, e.message))
            .collect();
        let expected = [
            (
                1,
                "source 12: the following required arguments were not provided: --event-type <TYPE>",
            ),
            (
                8,
                "`end_at` is not a key of a [[source]]: a source follows the log, which has no end",
            ),
            (9, "`page_size`: 0 is not between 1 and 100"),
            (
                10,
                "`rotate_after`: time unit needed, for example 5sec or 5ms; use a number and a unit such as 90s, 15m, 24h or 7d",
            ),
            (11, "`format`: \"cef\" is not one of: raw, ocsf"),
        ];
        let expected: Vec<(usize, String)> = expected
            .iter()
            .map(|(line, m)| (*line, m.to_string()))
            .collect();
        assert_eq!(found, expected);
    }

    #[tokio::test]
    async fn a_valid_source_prepares() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[[source]]\nname = \"a\"\nworkspace = 12\ntoken_env = \"T\"\n\
                    output = \"a.ndjson\"\ncheckpoint = \"a.ckpt\"\nbase_url = \"http://127.0.0.1:9\"\n";
        let mut env = |name: &str| (name == "T").then(|| "secret".to_string());
        let sources = prepare(text, dir.path(), &mut env)
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].name, "a");
        assert_eq!(sources[0].args.workspace, "12");
        assert_eq!(sources[0].args.output, dir.path().join("a.ndjson"));
    }
}
