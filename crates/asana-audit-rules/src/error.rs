//! The errors of loading rules and evaluating events.

use std::fmt;

/// Where in a rule file something is: the file's name and, when known, its line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file's name as it was given to the loader (e.g. `rules/team_made_public.yml`).
    pub file: String,
    /// The line, when the problem has one.
    pub line: Option<usize>,
}

impl Location {
    pub(crate) fn new(file: &str, line: usize) -> Self {
        Location {
            file: file.to_string(),
            line: Some(line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// What went wrong while loading rules or evaluating an event.
///
/// Every loading error names the file and line, and (once the rule's title is known) the rule:
/// a rule that cannot be evaluated exactly as written is refused, never loaded in part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid YAML.
    #[error("{location}: not valid YAML: {message}")]
    Yaml {
        /// Where the YAML parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// The document is not a valid Sigma rule: a required key is missing, or a value has the
    /// wrong shape (a condition that does not parse, a timespan without a unit, ...).
    #[error("{location}: rule '{rule}': {message}")]
    Invalid {
        /// Where the problem is.
        location: Location,
        /// The rule's title (or id, or `(untitled)`).
        rule: String,
        /// What is wrong, and what would be right.
        message: String,
    },
    /// The rule uses a part of Sigma that this evaluator does not implement; it is refused
    /// rather than evaluated differently from what it says.
    #[error("{location}: rule '{rule}': {feature} is not supported by this evaluator")]
    Unsupported {
        /// Where the feature is used.
        location: Location,
        /// The rule's title (or id, or `(untitled)`).
        rule: String,
        /// The feature, e.g. `the 'base64offset' modifier`.
        feature: String,
    },
    /// A field name carries a modifier Sigma does not define (often a typo).
    #[error("{location}: rule '{rule}': unknown modifier '{modifier}' (known: {known})")]
    UnknownModifier {
        /// Where the modifier is.
        location: Location,
        /// The rule's title (or id, or `(untitled)`).
        rule: String,
        /// The modifier as written.
        modifier: String,
        /// The modifiers this evaluator knows, for the reader.
        known: &'static str,
    },
    /// A correlation rule refers to a rule (by id or name) that none of the loaded files holds.
    #[error(
        "{location}: correlation '{rule}': refers to rule '{reference}', which is not loaded \
         (load the file that defines it, or fix the id or name)"
    )]
    UnknownReference {
        /// Where the reference is.
        location: Location,
        /// The correlation rule's title.
        rule: String,
        /// The id or name it refers to.
        reference: String,
    },
    /// Two rules share an id or a name, so references to it would be ambiguous.
    #[error("{location}: rule '{rule}': {key} '{value}' is already used at {first}")]
    Duplicate {
        /// Where the second rule is.
        location: Location,
        /// The second rule's title.
        rule: String,
        /// `id` or `name`.
        key: &'static str,
        /// The shared value.
        value: String,
        /// Where the first rule is (boxed to keep the error small).
        first: Box<Location>,
    },
    /// A rule file or folder could not be read, or a folder holds no rule files.
    #[error("{path}: {message}")]
    Unreadable {
        /// The file or folder as given.
        path: String,
        /// What went wrong (the system's message, or that no `.yml`/`.yaml` file was found).
        message: String,
    },
    /// An event's `created_at` is missing or is not an RFC 3339 time, so the event cannot be
    /// placed in a correlation window.
    #[error("event {gid}: created_at {value} is not an RFC 3339 time; correlation windows need it")]
    EventTime {
        /// The event's `gid` (or `?`).
        gid: String,
        /// The `created_at` found, as JSON.
        value: String,
    },
}
