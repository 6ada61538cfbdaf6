//! `asana-audit run --config FILE`: every source of the file followed at once, on one runtime.
//!
//! Each source is `follow` with its own client, output and checkpoint, run by the same loop
//! (`export::run_until`). A source whose token is refused is reported and stops; one that fails
//! otherwise (the API after its retries, a write) is reported and starts again from its
//! checkpoint after its `restart_after` pause. Neither stops the others. SIGINT or SIGTERM
//! stops them all: each commits what it wrote, and the process exits with 130.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::sync::watch;

use crate::cli::{RunArgs, When};
use crate::config::{self, Source};
use crate::error::{CliError, Failure};
use crate::export::{self, Plan};
use crate::progress::Progress;

/// How a source's task ended.
struct Ended {
    name: String,
    /// `None`: committed and stopped when asked to; else why it stopped on its own.
    error: Option<CliError>,
}

/// Checks the configuration and, unless `--check`, follows every source until interrupted.
pub async fn run(args: &RunArgs) -> Result<(), CliError> {
    // Before the sources' clients are made: each takes the metrics as its observer.
    let _monitor = if args.check {
        None
    } else {
        crate::metrics::start(&args.monitor).await?
    };
    let mut sources = config::load(&args.config).await?;
    if args.check {
        for source in sources.iter_mut() {
            if let Some(plan) = source.plan.take() {
                plan.release().await?;
            }
        }
        println!(
            "{}: {} source{} ready",
            args.config.display(),
            sources.len(),
            if sources.len() == 1 { "" } else { "s" }
        );
        return Ok(());
    }
    let (stop, stopped) = watch::channel(false);
    // The sources are futures of this one task (an archive's sink is not `Sync`, so they
    // could not be spawned); each waits on its own I/O, and encoding runs on threads of its own.
    let mut tasks = FuturesUnordered::new();
    for source in sources {
        tracing::info!(source = %source.name, workspace = %source.args.workspace, "following");
        tasks.push(follow(source, stopped.clone()));
    }
    let mut interrupt = std::pin::pin!(crate::signals::interrupted());
    let mut ended = Vec::new();
    let mut asked_to_stop = false;
    loop {
        tokio::select! {
            () = &mut interrupt, if !asked_to_stop => {
                asked_to_stop = true;
                let _ = stop.send(true);
            }
            next = tasks.next() => match next {
                None => break,
                Some(end) => ended.push(end),
            },
        }
    }
    conclude(ended, asked_to_stop)
}

/// The exit of the whole process: 130 when interrupted with every source committed; else the
/// worst failure of a source that stopped on its own (or could not commit).
fn conclude(ended: Vec<Ended>, asked_to_stop: bool) -> Result<(), CliError> {
    let mut worst: Option<CliError> = None;
    let mut stopped_alone = Vec::new();
    for end in ended {
        if let Some(error) = end.error {
            stopped_alone.push(format!("{} ({})", end.name, first_line(&error.message)));
            // A commit that failed outweighs everything: it is the one that loses data.
            let rank = |f: Failure| match f {
                Failure::Local => 3,
                Failure::Auth => 2,
                Failure::Api => 1,
                _ => 0,
            };
            if worst
                .as_ref()
                .is_none_or(|w| rank(error.failure) > rank(w.failure))
            {
                worst = Some(error);
            }
        }
    }
    match worst {
        Some(error) if error.failure == Failure::Local || !asked_to_stop => Err(CliError {
            failure: error.failure,
            message: format!(
                "{} source(s) stopped on their own: {}",
                stopped_alone.len(),
                stopped_alone.join("; ")
            ),
        }),
        _ if asked_to_stop => Err(CliError {
            failure: Failure::Interrupted,
            message: if stopped_alone.is_empty() {
                "interrupted: every source flushed its output and saved its checkpoint".to_string()
            } else {
                format!(
                    "interrupted: every running source flushed its output and saved its \
                     checkpoint; stopped earlier: {}",
                    stopped_alone.join("; ")
                )
            },
        }),
        _ => Ok(()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Follows one source until it is asked to stop, or its token is refused.
async fn follow(source: Source, stopped: watch::Receiver<bool>) -> Ended {
    let Source {
        name,
        args,
        mode,
        restart_after,
        client,
        plan,
        alerting,
    } = source;
    let progress = Progress::new(When::Never);
    let mut plan = plan;
    // Whether another run holds this source, and this one waits to take it over.
    let mut standing_by = false;
    let ended = |error: Option<CliError>| Ended {
        name: name.clone(),
        error,
    };
    loop {
        if *stopped.borrow() {
            return ended(None);
        }
        let next = match plan.take() {
            Some(plan) => Ok(plan),
            None => Plan::new(&args, &client, mode, alerting.clone(), Some(&name)).await,
        };
        let result = match next {
            Ok(plan) => {
                if std::mem::take(&mut standing_by) {
                    tracing::warn!(source = %name, "took this source over");
                }
                let mut stop = stopped.clone();
                let stop = async move {
                    // An error means the sender is gone: the process is ending anyway.
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                export::run_until(&args, &client, plan, &progress, Some(&name), stop)
                    .await
                    .map(|_| ())
            }
            Err(error) => Err(error),
        };
        let error = match result {
            // A follow ends only when stopped; whatever ended it, what it wrote is committed.
            Ok(()) => return ended(None),
            Err(error) if error.failure == Failure::Interrupted => return ended(None),
            Err(error) => error,
        };
        if *stopped.borrow() {
            // Failed while committing on the way out: that is what must be reported.
            tracing::error!(source = %name, "{}", error.message);
            return ended(Some(error));
        }
        match error.failure {
            Failure::Locked => {
                // Another replica (or run) holds this source's checkpoint: it is the one that
                // writes; this one takes over if that one stops.
                if !standing_by {
                    tracing::warn!(
                        source = %name,
                        "{}; standing by, trying again every {}",
                        first_line(&error.message),
                        humantime::format_duration(restart_after)
                    );
                }
                standing_by = true;
                if pause(restart_after, stopped.clone()).await {
                    return ended(None);
                }
            }
            Failure::Auth | Failure::Input => {
                tracing::error!(
                    source = %name,
                    "{}; this source stops, the others go on",
                    error.message
                );
                return ended(Some(error));
            }
            _ => {
                tracing::error!(
                    source = %name,
                    "{}; this source starts again from its checkpoint in {}",
                    error.message,
                    humantime::format_duration(restart_after)
                );
                if pause(restart_after, stopped.clone()).await {
                    return ended(None);
                }
                tracing::warn!(source = %name, "starting again");
            }
        }
    }
}

/// Waits `pause`; `true` when asked to stop meanwhile.
async fn pause(pause: Duration, mut stopped: watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => false,
        _ = stopped.wait_for(|stop| *stop) => true,
    }
}
