//! Command-line arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use asana_audit_log::EventsRequest;
use asana_audit_log::types::{Actor, ActorType, EventType};
use asana_audit_log_pipeline::{Encoding, OcsfClass, SecurityLake};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, ValueHint};

const EXIT_CODES: &str = "\
Exit codes:
  0    success
  1    the output or the checkpoint could not be written
  2    bad usage or input (nothing was sent)
  3    authentication or permission refused (401, 402, 403)
  4    API or network failure, after retries
  5    another run holds this checkpoint (or file output), and nothing was read or written;
       or another run took over its lease, and nothing more was written
  130  interrupted (Ctrl-C); the output is flushed and the checkpoint saved";

/// Export and follow Asana's audit log as NDJSON, without losing or repeating an event.
///
/// Reads GET /workspaces/{gid}/audit_log_events of an Enterprise domain with a service
/// account's token, writes one JSON event per line exactly as Asana sent it, and can save a
/// checkpoint so that a rerun (even after a crash) continues where the last one stopped.
#[derive(Debug, Parser)]
#[command(
    name = "asana-audit",
    version,
    after_long_help = EXIT_CODES,
    after_help = EXIT_CODES,
    propagate_version = true,
    args_override_self = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Log format for diagnostics on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, display_order = 900)]
    pub log_format: LogFormat,

    /// More diagnostics on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, display_order = 901)]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the events of a window as NDJSON, then exit.
    ///
    /// Example: asana-audit export --workspace 1234 --since 24h --output events.ndjson
    /// --checkpoint events.checkpoint
    Export(ExportArgs),
    /// Like export, then keep polling and appending new events until interrupted.
    ///
    /// Example: asana-audit follow --workspace 1234 --since 1h --output events.ndjson
    /// --checkpoint events.checkpoint --poll-interval 30s
    Follow(FollowArgs),
    /// Follow several workspaces at once, each source as its own `follow`, as a service.
    ///
    /// Every source of the TOML file has its workspace, token, filters, output and checkpoint.
    /// A source whose token is refused stops; one that fails otherwise starts again from its
    /// checkpoint after a pause; neither stops the others. SIGINT or SIGTERM commits every
    /// source and exits with 130. Every error in the file is reported, with its line, before
    /// anything starts.
    ///
    /// Example: asana-audit run --config /etc/asana-audit/collector.toml
    Run(RunArgs),
    /// Re-encode an NDJSON export (a file or standard input) into partitioned files of any
    /// encoding, in a directory or object store.
    ///
    /// Example: asana-audit convert events.ndjson --output s3://bucket/asana --encoding parquet
    Convert(ConvertArgs),
    /// Make one self-contained HTML page from an export: charts of the domain's activity and
    /// the findings an auditor must see.
    ///
    /// The page shows the window and counts, events per day by category, logins per day
    /// (succeeded and failed), the top actors (Asana support and external administrators called
    /// out) and event types, the admin-setting and permission changes, and the findings, each
    /// linked to the events behind it (gid, time, actor, IP address).
    ///
    /// Reads the files `export` or `convert` wrote (NDJSON, .ndjson.gz, .ndjson.zst, Parquet),
    /// given as files or folders. The page needs no network: no script, font or image is
    /// loaded from anywhere. The finding rules (admin granted, organization-wide export, SSO or
    /// two-factor relaxed, Asana support access, app authorized, bursts of deletions or failed
    /// logins) are listed in the page. Lines that are not events are counted and reported; an
    /// input without events, or OCSF files, exit with code 2 and write nothing.
    ///
    /// Example: asana-audit report events.ndjson --output report.html
    Report(ReportArgs),
    /// Run Sigma rules over an export and write the alerts they raise, one JSON object a line.
    ///
    /// The rules are the pack this tool ships (failed-login bursts, admin granted, SSO or
    /// two-factor relaxed, exports, Asana support acting, ...); --rules adds the rules of a
    /// folder or file to it, and with --no-shipped-rules they replace it. Each alert has a
    /// stable id (the same rule, event or window always gets the same one), the rule's id,
    /// title and level, the group and window, and the gids and JSON of the events it matched:
    /// the alerts a live run gives on the same events. A rule that cannot be evaluated as
    /// written exits with code 2, naming its file and line, before anything is read.
    ///
    /// Reads the files `export` or `convert` wrote (NDJSON, .ndjson.gz, .ndjson.zst, Parquet),
    /// given as files or folders; lines that are not events are counted and reported.
    ///
    /// Example: asana-audit detect archive/ --rules my-rules/ --output alerts.ndjson
    Detect(DetectArgs),
    /// Start a local mock of the API with a realistic dataset and export from it (no token).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// List the known event types with their categories.
    EventTypes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of one NDJSON record (one audit log event).
    Schema,
}

/// Options of a source that exclude each other, by their names in a `run` configuration
/// (clap's argument ids, the flags with `_` for `-`): stated here once, applied to the
/// command line by [`parse`] and to a configuration by `config.rs`.
pub const CONFLICTS: &[(&str, &str)] = &[("since", "start_at"), ("actor_type", "actor_gid")];

/// Parses the command line, with [`CONFLICTS`] applied to the subcommands that read a source.
pub fn parse() -> Cli {
    let mut command = Cli::command();
    for subcommand in ["export", "follow"] {
        command = command.mut_subcommand(subcommand, |mut subcommand| {
            for (one, other) in CONFLICTS {
                subcommand = subcommand.mut_arg(one, |arg| arg.conflicts_with(other));
            }
            subcommand
        });
    }
    Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|error| error.exit())
}

/// The options of `export`.
#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// What every source takes.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Fetch a bounded window with K concurrent requests (needs a start; the end defaults to
    /// now). Events are still written in order.
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = parse_concurrency)]
    pub concurrency: usize,
}

/// The API's filters, as flags. A new filter is a field here and its line in
/// [`FilterArgs::apply`] (the library defines the filter itself, in its `query` module).
#[derive(Debug, Args, Clone)]
pub struct FilterArgs {
    /// Only events of this type (see `asana-audit event-types`).
    #[arg(long, value_name = "TYPE")]
    pub event_type: Option<String>,

    /// Accept an --event-type that is not in the catalogue (Asana adds types over time).
    #[arg(long, requires = "event_type")]
    pub allow_unknown_event_type: bool,

    /// Only events whose actor is of this type.
    #[arg(long, value_name = "TYPE", value_parser = parse_actor_type)]
    pub actor_type: Option<ActorType>,

    /// Only events caused by the actor with this gid.
    #[arg(long, value_name = "GID")]
    pub actor_gid: Option<String>,

    /// Only events whose resource has this gid.
    #[arg(long, value_name = "GID")]
    pub resource_gid: Option<String>,
}

impl FilterArgs {
    /// Sets these filters on `request`; an --event-type outside the catalogue is refused
    /// unless --allow-unknown-event-type.
    pub fn apply(&self, mut request: EventsRequest) -> Result<EventsRequest, String> {
        if let Some(event_type) = &self.event_type {
            request = request.event_type(resolve_event_type(
                event_type,
                self.allow_unknown_event_type,
            )?);
        }
        if let Some(actor_type) = &self.actor_type {
            request = request.actor(Actor::Type(actor_type.clone()));
        }
        if let Some(gid) = &self.actor_gid {
            request = request.actor(Actor::Gid(gid.clone()));
        }
        if let Some(gid) = &self.resource_gid {
            request = request.resource_gid(gid);
        }
        Ok(request)
    }
}

/// The options of every source: `export`, `follow`, and each source of `run`.
#[derive(Debug, Args, Clone)]
pub struct SourceArgs {
    /// The workspace (organization) gid whose audit log to read.
    #[arg(long, value_name = "GID")]
    pub workspace: String,

    /// Only events of the last DURATION (e.g. 90m, 24h, 7d); the window's start is computed once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,

    /// Only events at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or a date).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub start_at: Option<DateTime<Utc>>,

    /// Only events before this time (exclusive; RFC 3339 or a date).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub end_at: Option<DateTime<Utc>>,

    /// Which events: the API's filters.
    #[command(flatten)]
    pub filters: FilterArgs,

    /// Events per request, 1 to 100.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = parse_page_size)]
    pub page_size: u32,

    /// Stop after writing N events (the checkpoint then continues after the N-th).
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,

    /// Where to write the events: a file (appended on resume), - for standard output, or a
    /// directory or URL (s3://bucket/prefix, gs://..., az://...) for partitioned files that are
    /// committed whole (see --encoding). A path is a directory when it exists as one, ends
    /// with /, or --encoding is not ndjson.
    #[arg(long, short, value_name = "FILE|DIR|URL|-", default_value = "-", value_hint = ValueHint::AnyPath)]
    pub output: PathBuf,

    /// Replace a non-empty --output file when no checkpoint says to resume it.
    #[arg(long)]
    pub overwrite: bool,

    /// Save progress here, and resume from it if it exists: a file, or an object store URL
    /// (s3://bucket/key, gs://..., az://...) for a run with no disk of its own, written only
    /// over the version last read and held with a lease (see --lease) instead of a lock. With
    /// a file or archive --output, a rerun after any crash writes every event exactly once;
    /// with standard output, events written after the last checkpoint may be written again.
    #[arg(long, value_name = "FILE|URL", value_hint = ValueHint::FilePath)]
    pub checkpoint: Option<PathBuf>,

    /// With an object store --checkpoint: how long this run's lease on it lasts (renewed
    /// every third of it). Another run, on any machine, is refused with exit code 5 while the
    /// lease lasts, and takes over once it has expired (its holder died); a run that could not
    /// renew its lease stops writing before it expires.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub lease: Duration,

    /// Save the checkpoint after at most this many events (and at least every second).
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,

    /// How files land in a directory or URL --output.
    #[command(flatten)]
    pub archive: ArchiveArgs,

    /// How many times a failed request (429, 5xx, timeout, reset, truncated body) is retried,
    /// with exponential backoff, before the run fails with exit code 4.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_retries: u32,

    /// Most requests this run sends in any 60 seconds (Asana allows 1,500 per token on paid
    /// domains, 150 on free ones, counted across all its clients). The pace adapts: a 429
    /// lowers it and holds every request until Retry-After has passed, then it climbs back, so
    /// a token shared with other programs is not driven into its limit; lower it to leave them
    /// a fixed share. 0 removes the limit and the adaptation, for a local mock server.
    #[arg(long, value_name = "N", default_value_t = 1_500)]
    pub requests_per_minute: u32,

    /// Read the token from this file instead of ASANA_ACCESS_TOKEN.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub token_file: Option<PathBuf>,

    /// The API root (HTTPS required unless the host is loopback).
    #[arg(long, value_name = "URL", default_value = asana_audit_log::config::DEFAULT_BASE_URL, value_parser = parse_base_url)]
    pub base_url: String,

    /// Progress on stderr: auto (only on a terminal), always or never.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    pub progress: When,

    /// Metrics and health for running unattended.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// Metrics, health and the silence alarm of `export` and `follow`.
#[derive(Debug, Args, Clone, Default)]
pub struct MonitorArgs {
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (per workspace: events, pages and
    /// bytes received, duplicates dropped, requests by status, 429s, retries by reason, request
    /// latency, the newest event's time and lag, the last successful poll and commit,
    /// checkpoint saves), /healthz (200 while the process runs) and /readyz (200 while the last
    /// successful poll is at most 3 poll intervals + 60 s old, else 503).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Warn, and set the metric asana_audit_silent to 1, once no event has arrived for this
    /// long (e.g. 2h): a domain whose log falls silent may have lost its audit log export.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub alert_silence: Option<Duration>,
}

/// How events land in a directory or object store: encoding, partitions, rotation. Shared by
/// `export`, `follow` and `convert`.
#[derive(Debug, Args, Clone)]
pub struct ArchiveArgs {
    /// What each event is written as: raw (exactly as Asana sent it) or ocsf (normalized to
    /// an OCSF event of the --ocsf-version; every field not mapped is kept in `unmapped`).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Raw)]
    pub format: Format,

    /// The OCSF version of --format ocsf events: 1.8 (OCSF 1.8.0) or 1.1 (OCSF 1.1.0, which
    /// Amazon Security Lake validates against; what 1.1 has no attribute for stays in
    /// `unmapped`) [default: 1.8; with --security-lake: 1.1].
    #[arg(long, value_enum, value_name = "VERSION")]
    pub ocsf_version: Option<OcsfVersion>,

    /// Land OCSF 1.1 Parquet in an Amazon Security Lake, region REGION and AWS account
    /// ACCOUNT: each OCSF class in the custom source --security-lake-source
    /// gives for it, under <location>/region=REGION/accountId=ACCOUNT/eventDay=YYYYMMDD/, and
    /// the events of no Security Lake class in --fallback-output. Implies --format ocsf
    /// --ocsf-version 1.1 --encoding parquet; --output, when given, must be the lake's
    /// bucket.
    #[arg(long, value_name = "REGION:ACCOUNT", value_parser = parse_security_lake)]
    pub security_lake: Option<(String, String)>,

    /// With --security-lake: the location of the custom source of an OCSF class, as
    /// CreateCustomLogSource returned it (provider.location, e.g.
    /// s3://aws-security-data-lake-eu-west-1-abc123/ext/asana-auth/1.0/); CLASS is the
    /// class's name or uid (authentication or 3002). Repeat it for each class the events map
    /// to; a class without one is refused before any request, with the event types that map
    /// to it. All locations are in the lake's one bucket.
    #[arg(long, value_name = "CLASS=LOCATION", value_parser = parse_security_lake_source)]
    pub security_lake_source: Vec<(OcsfClass, String)>,

    /// With --security-lake: where events of no Security Lake class go, in full, as Asana
    /// sent them (Parquet with --encoding parquet's columns, event_date=YYYY-MM-DD/ folders):
    /// those that map to OCSF Base Event (an event whose resource has neither a gid nor a name fits no
    /// other class, whatever its type, known or new). A directory or URL (e.g.
    /// s3://acme-audit/asana-unmapped/) outside the sources' locations; its files are committed
    /// with the lake's, under the one checkpoint. Required with --security-lake; each type is
    /// logged once and counted in the metrics.
    #[arg(long, value_name = "DIR|URL", value_hint = ValueHint::AnyPath)]
    pub fallback_output: Option<PathBuf>,

    /// Encoding of the files: ndjson (the bytes Asana sent), ndjson.gz, ndjson.zst or parquet
    /// (typed columns plus each event's exact JSON). Only ndjson goes to a file or standard
    /// output; the others need a directory or URL --output.
    #[arg(long, value_name = "ENCODING", value_parser = parse_encoding)]
    pub encoding: Option<Encoding>,

    /// Partition folders by the event's UTC day (event_date=YYYY-MM-DD) or also its hour
    /// (.../event_hour=HH).
    #[arg(long, value_enum, value_name = "BY", default_value_t = PartitionBy::Day)]
    pub partition: PartitionBy,

    /// Commit a file once it holds about SIZE bytes (e.g. 64MiB, 1GB) [default: 128MiB; with
    /// --security-lake: 256MiB, as Security Lake takes objects more often than every 5
    /// minutes only when they are larger than 256 MB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub rotate_size: Option<u64>,

    /// Commit a file at the latest DURATION after its first event: in follow, the archive
    /// trails the log by at most about this much.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub rotate_after: Duration,

    /// Rows per Parquet row group (the memory a Parquet file in progress uses grows with it).
    #[arg(long, value_name = "N", default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1..))]
    pub row_group_rows: u64,

    /// Where files for an object store are staged before upload [default: the system's
    /// temporary folder].
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub staging_dir: Option<PathBuf>,
}

/// What each event is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Exactly as Asana sent it.
    Raw,
    /// An OCSF event of the --ocsf-version.
    Ocsf,
}

/// The OCSF version of OCSF events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OcsfVersion {
    /// OCSF 1.1.0.
    #[value(name = "1.1")]
    V1_1,
    /// OCSF 1.8.0.
    #[value(name = "1.8")]
    V1_8,
}

/// Parses `--security-lake REGION:ACCOUNT`.
pub fn parse_security_lake(text: &str) -> Result<(String, String), String> {
    let (region, account) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: use REGION:ACCOUNT, e.g. eu-west-1:123456789012"))?;
    let region_ok = !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !region_ok {
        return Err(format!("{region:?} is not an AWS region such as eu-west-1"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not a 12-digit AWS account id"));
    }
    Ok((region.to_owned(), account.to_owned()))
}

/// Parses `--security-lake-source CLASS=LOCATION`.
pub fn parse_security_lake_source(text: &str) -> Result<(OcsfClass, String), String> {
    let (class, location) = text.split_once('=').ok_or_else(|| {
        format!(
            "{text:?}: use CLASS=LOCATION, e.g. \
             authentication=s3://aws-security-data-lake-eu-west-1-abc123/ext/asana-auth/1.0/"
        )
    })?;
    Ok((SecurityLake::class(class)?, location.to_owned()))
}

/// Partition folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionBy {
    /// event_date=YYYY-MM-DD
    Day,
    /// event_date=YYYY-MM-DD/event_hour=HH
    Hour,
}

/// The options of `convert`.
#[derive(Debug, Args, Clone)]
pub struct ConvertArgs {
    /// The NDJSON export to read (one event per line), or - for standard input.
    #[arg(value_name = "INPUT|-", default_value = "-")]
    pub input: PathBuf,

    /// Where to write the events, in either --format: a new file, - for standard output, or a
    /// directory or URL (s3://, gs://, az://) for partitioned files (see --encoding). A path
    /// is a directory when it exists as one, ends with /, or --encoding is not ndjson. Not
    /// needed with --security-lake.
    #[arg(
        long,
        short,
        value_name = "FILE|DIR|URL|-",
        required_unless_present = "security_lake"
    )]
    pub output: Option<PathBuf>,

    /// What to do with a line that is not an event: stop (nothing after it is committed) or
    /// skip it and count it.
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = OnError::Stop)]
    pub on_error: OnError,

    /// How files land in a directory or URL --output.
    #[command(flatten)]
    pub archive: ArchiveArgs,

    /// Progress on stderr: auto (only on a terminal), always or never.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    pub progress: When,
}

/// The options of `report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// The export: files (.ndjson, .ndjson.gz, .ndjson.zst, .parquet) or folders, read
    /// recursively (names starting with . or _ are skipped).
    #[arg(value_name = "FILE|DIR", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Where to write the HTML page (written whole: a temp file renamed into place).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,

    /// The events read: --since and --until.
    #[command(flatten)]
    pub window: TimeWindow,

    /// Also write the findings, with the events behind each, as JSON for tooling.
    #[arg(long, value_name = "FILE")]
    pub findings_json: Option<PathBuf>,

    /// GeoIP: with --geoip, the findings include logins from a country new for the user and
    /// impossible travel.
    #[command(flatten)]
    pub geo: GeoArgs,

    /// Also write everything the page shows (counts, series by day, rankings, changes,
    /// findings) as JSON, to check its numbers another way.
    #[arg(long, value_name = "FILE")]
    pub data_json: Option<PathBuf>,
}

/// The options of `detect`.
#[derive(Debug, Args, Clone)]
pub struct DetectArgs {
    /// The export: files (.ndjson, .ndjson.gz, .ndjson.zst, .parquet) or folders, read
    /// recursively (names starting with . or _ are skipped).
    #[arg(value_name = "FILE|DIR", required = true)]
    pub inputs: Vec<PathBuf>,

    /// The rules: --rules and --no-shipped-rules.
    #[command(flatten)]
    pub rules: RuleArgs,

    /// Where to write the alerts as NDJSON (written whole: a temp file renamed into place), or
    /// - for standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,

    /// The events read: --since and --until.
    #[command(flatten)]
    pub window: TimeWindow,

    /// Fold repeats of an alert of one rule and group within DURATION into the next one
    /// written, as follow does with the same flag (0s: write every alert), unless the rule sets
    /// its own `dedup`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero, default_value = "60m")]
    pub alert_dedup: Duration,
}

/// `--rules` and `--no-shipped-rules`: the shipped Sigma pack, with rules of the user's own or
/// instead of it.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleArgs {
    /// Sigma rules to add to the shipped pack: a .yml/.yaml file, or a folder read
    /// recursively. May be given more than once.
    #[arg(long = "rules", value_name = "DIR|FILE", value_hint = ValueHint::AnyPath)]
    pub rules: Vec<PathBuf>,

    /// Leave the shipped pack out: only the rules of --rules are run.
    #[arg(long, requires = "rules")]
    pub no_shipped_rules: bool,

    /// GeoIP: --geoip and its detectors' settings.
    #[command(flatten)]
    pub geo: GeoArgs,
}

/// GeoIP: databases for the alerts' addresses, and the settings of the two detectors they
/// enable.
#[derive(Debug, Args, Clone)]
pub struct GeoArgs {
    /// A MaxMind-format GeoIP database (GeoIP2 or GeoLite2 City, Country or ASN; give a City
    /// and an ASN database for both): alerts carry the country, place and network of their
    /// events' addresses, and two detectors run on logins, a country new for the user and
    /// impossible travel. May be given more than once. Without one, both detectors are off.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub geoip: Vec<PathBuf>,

    /// With --geoip: a user's login from a country they have not logged in from within this
    /// many days alerts (0 turns it off).
    #[arg(long, value_name = "DAYS", default_value_t = GeoArgs::default().geoip_new_country_days, requires = "geoip")]
    pub geoip_new_country_days: u32,

    /// With --geoip: consecutive logins of a user farther apart (less the places' accuracy
    /// radii) than this speed covers in the time between alert as impossible travel (0 turns
    /// it off).
    #[arg(long, value_name = "KM/H", default_value_t = GeoArgs::default().geoip_travel_kmh, requires = "geoip")]
    pub geoip_travel_kmh: u32,
}

impl Default for GeoArgs {
    /// No database, and the detectors' defaults ([`asana_audit_rules::Options`]).
    fn default() -> Self {
        let options = asana_audit_rules::Options::default();
        GeoArgs {
            geoip: Vec::new(),
            geoip_new_country_days: u32::try_from(options.new_country_window.as_secs() / 86_400)
                .unwrap_or(u32::MAX),
            geoip_travel_kmh: options.travel_speed_kmh,
        }
    }
}

/// Live alerting of `follow`: the rules' alerts delivered to webhooks, Slack or a file.
#[derive(Debug, Args, Clone)]
pub struct AlertArgs {
    /// POST each alert as JSON to this http(s) URL (retried while it fails; a 4xx other than
    /// 408/429 is reported, not retried). May be given more than once.
    #[arg(long, value_name = "URL")]
    pub alert_webhook: Vec<String>,

    /// POST each alert as a message to this Slack incoming webhook. May be given more than
    /// once.
    #[arg(long, value_name = "URL")]
    pub alert_slack: Vec<String>,

    /// Append each alert as a JSON line to FILE, or write it to standard output with -. May
    /// be given more than once.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub alert_file: Vec<PathBuf>,

    /// Fold repeats of an alert of one rule and group within DURATION into the next one sent
    /// (0s: send every alert), unless the rule sets its own `dedup`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_or_zero, default_value = "60m")]
    pub alert_dedup: Duration,

    /// The rules evaluated on each event (the shipped pack unless told otherwise).
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// `--since` and `--until` of the commands that read an export.
#[derive(Debug, Args, Clone, Copy)]
pub struct TimeWindow {
    /// Only events at or after this time (RFC 3339 or a date), or within this DURATION before
    /// now (e.g. 30d).
    #[arg(long, value_name = "TIME|DURATION", value_parser = parse_time_or_ago)]
    pub since: Option<DateTime<Utc>>,

    /// Only events before this time (exclusive; RFC 3339, a date, or a DURATION before now).
    #[arg(long, value_name = "TIME|DURATION", value_parser = parse_time_or_ago)]
    pub until: Option<DateTime<Utc>>,
}

impl TimeWindow {
    /// Whether `at` is within the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
    }
}

/// Parses a time (see [`parse_time`]) or a duration before now.
pub fn parse_time_or_ago(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time(text).or_else(|time_error| {
        let ago = humantime::parse_duration(text).map_err(|_| {
            format!("{time_error}; or give a duration before now such as 30d or 12h")
        })?;
        chrono::Duration::from_std(ago)
            .ok()
            .and_then(|ago| Utc::now().checked_sub_signed(ago))
            .ok_or_else(|| format!("{text:?} reaches too far back"))
    })
}

/// What `convert` does with a malformed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Report the file and line, and stop with exit code 2.
    Stop,
    /// Report it, skip it, and count it in the summary.
    Skip,
}

/// Parses an encoding name.
pub fn parse_encoding(text: &str) -> Result<Encoding, String> {
    text.parse()
        .map_err(|e: asana_audit_log_pipeline::UnknownEncoding| e.to_string())
}

/// Parses a size: bytes, or a number with KB, MB, GB (powers of 1000) or KiB, MiB, GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return Err(format!("{text:?}: use a size such as 64MiB, 500MB or 1GiB")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?}: use a size above zero such as 64MiB, 500MB or 1GiB"))
}

/// The options of `follow`.
#[derive(Debug, Args, Clone)]
pub struct FollowArgs {
    /// What every source takes.
    #[command(flatten)]
    pub source: SourceArgs,

    /// How long to wait after the newest event before asking again.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30s")]
    pub poll_interval: Duration,

    /// Also pick up late events: after every poll that reaches the newest event, read the
    /// DURATION before the newest event written again and write what was not written yet.
    /// Guarantee: an event that becomes visible while the newest event written is at most
    /// DURATION newer than its created_at is written, once (across restarts too: the gids
    /// written within the window, up to 10,000, are kept in the checkpoint). Cost: one more
    /// query per poll, one request per page of events within the window. From 1ms to 90d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lookback: Option<Duration>,

    /// Alerts of the Sigma rules on each event, delivered as each checkpoint is saved.
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// The options of `run`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// The configuration: [[source]] tables (see the README for their keys).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Check the configuration, tokens, outputs and checkpoints, then exit without following.
    #[arg(long)]
    pub check: bool,

    /// Metrics and health of every source at one address: each series is labelled by source
    /// and workspace, and /readyz names each source that is behind.
    #[command(flatten)]
    pub monitor: MonitorArgs,
}

/// The options of `demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// How many events the mock server holds.
    #[arg(long, default_value_t = 2_000)]
    pub events: usize,

    /// The dataset's seed (the same seed gives the same events).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,

    /// How many events to print in full before the summary.
    #[arg(long, default_value_t = 3)]
    pub show: usize,

    /// Also write every exported event to this NDJSON file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Diagnostics format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// When to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum When {
    /// Only when stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Parses `90s`, `15m`, `24h`, `7d`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(text)?;
    if duration.is_zero() {
        return Err("the duration must be more than zero".to_string());
    }
    Ok(duration)
}

/// Parses a duration that may be zero (e.g. `--alert-dedup 0s`).
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}; use a number and a unit such as 90s, 15m, 24h or 7d"))
}

/// Parses `--page-size`: 1 to the largest page the API serves.
pub fn parse_page_size(text: &str) -> Result<u32, String> {
    let max = asana_audit_log::limits::MAX_PAGE_SIZE;
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| format!("{text} is not between 1 and {max}"))
}

/// Parses `--base-url` with the client's own check (HTTPS unless the host is loopback).
pub fn parse_base_url(text: &str) -> Result<String, String> {
    asana_audit_log::Client::builder()
        .token(asana_audit_log::SecretString::from("unused".to_string()))
        .base_url(text)
        .build()
        .map_err(|e| crate::error::CliError::from(e).message)?;
    Ok(text.to_string())
}

/// Parses `--concurrency`: 1 to 50 (Asana serves at most 50 concurrent reads per token).
pub fn parse_concurrency(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(k @ 1..=50) => Ok(k),
        _ => Err(format!(
            "{text:?}: must be between 1 and 50 (Asana serves at most 50 concurrent reads per token)"
        )),
    }
}

/// Parses an RFC 3339 time, or a date (midnight UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!(
        "{text:?} is not a time; use RFC 3339 such as 2026-11-01T00:00:00Z, or a date such as 2026-11-01"
    ))
}

/// Parses a known actor type (the API accepts no other as a filter).
pub fn parse_actor_type(text: &str) -> Result<ActorType, String> {
    ActorType::known(text).ok_or_else(|| {
        let known: Vec<&str> = ActorType::ALL.iter().map(|t| t.as_str()).collect();
        format!(
            "unknown actor type {text:?}; use one of: {}",
            known.join(", ")
        )
    })
}

/// Resolves `--event-type`: a known type, or an unknown one if allowed, else an error that
/// names the closest known types.
pub fn resolve_event_type(text: &str, allow_unknown: bool) -> Result<EventType, String> {
    if let Some(known) = EventType::known(text) {
        return Ok(known);
    }
    if allow_unknown {
        return Ok(text.parse().expect("event types parse infallibly"));
    }
    let mut scored: Vec<(f64, &str)> = EventType::ALL
        .iter()
        .map(|t| (strsim::jaro_winkler(text, t.as_str()), t.as_str()))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let closest: Vec<&str> = scored.iter().take(3).map(|(_, name)| *name).collect();
    Err(format!(
        "event type {text:?} is not in the catalogue; did you mean {}? \
         (`asana-audit event-types` lists all; pass --allow-unknown-event-type if Asana added it)",
        closest.join(", ")
    ))
}
