//! The CLI's failures and their exit codes.

use std::fmt;
use std::process::ExitCode;

/// How a run ended badly; each kind has its documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Bad usage or input; nothing was sent (exit 2).
    Input,
    /// The token was refused: authentication or permission (exit 3).
    Auth,
    /// The API or the network failed, after retries (exit 4).
    Api,
    /// The output or the checkpoint could not be written (exit 1).
    Local,
    /// Another run holds the checkpoint (or the file output); nothing was read or written
    /// (exit 5).
    Locked,
    /// Interrupted by Ctrl-C or SIGTERM after saving what was done (exit 130).
    Interrupted,
}

impl Failure {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Failure::Local => 1,
            Failure::Input => 2,
            Failure::Auth => 3,
            Failure::Api => 4,
            Failure::Locked => 5,
            Failure::Interrupted => 130,
        }
    }
}

/// A failure with a message that says what to do about it.
#[derive(Debug)]
pub struct CliError {
    /// Which kind, hence the exit code.
    pub failure: Failure,
    /// The message for stderr.
    pub message: String,
}

impl CliError {
    /// Bad usage or input (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        CliError {
            failure: Failure::Input,
            message: message.into(),
        }
    }

    /// A local write failure (exit 1).
    pub fn local(message: impl Into<String>) -> Self {
        CliError {
            failure: Failure::Local,
            message: message.into(),
        }
    }

    /// The exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.failure.code())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<asana_audit_log::Error> for CliError {
    fn from(err: asana_audit_log::Error) -> Self {
        use asana_audit_log::Error as E;
        let failure = match &err {
            E::MissingToken
            | E::InvalidConfig { .. }
            | E::InvalidQuery(_)
            | E::CursorMismatch(_) => Failure::Input,
            E::Unauthorized(_) | E::PaymentRequired(_) | E::Forbidden(_) => Failure::Auth,
            _ => Failure::Api,
        };
        let mut message = err.to_string();
        if let Some(hint) = err.hint()
            && !message.contains(hint)
        {
            message = format!("{message}\nhint: {hint}");
        }
        CliError { failure, message }
    }
}

impl From<asana_audit_log_pipeline::Error> for CliError {
    fn from(err: asana_audit_log_pipeline::Error) -> Self {
        use asana_audit_log_pipeline::Error as E;
        let err = match err {
            E::Stream(err) => return err.into(),
            other => other,
        };
        let failure = match &err {
            E::Refused { .. } | E::InvalidDestination { .. } | E::InvalidCommit { .. } => {
                Failure::Input
            }
            E::Locked { .. } | E::Conflict { .. } => Failure::Locked,
            // The object store failing is exit 4, like the API failing.
            E::Store { .. } => Failure::Api,
            E::Commit { source } => match **source {
                E::Store { .. } => Failure::Api,
                // A checkpoint altered by hand, or not ours: bad input, and nothing was
                // touched.
                E::InvalidCommit { .. } => Failure::Input,
                E::Conflict { .. } => Failure::Locked,
                _ => Failure::Local,
            },
            _ => Failure::Local,
        };
        CliError {
            failure,
            message: err.to_string(),
        }
    }
}
