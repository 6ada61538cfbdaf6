//! Interruption: Ctrl-C (SIGINT) and, on Unix, SIGTERM.

/// Completes when the process is asked to stop (never, if no handler could be installed).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    () = ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c().await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No handler: never report an interruption that did not happen.
        std::future::pending::<()>().await;
    }
}
