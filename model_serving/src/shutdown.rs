//! Signals: the one to stop, SIGTERM (Kubernetes) or SIGINT (Ctrl-C), and SIGHUP, which asks
//! for a check of the followed registry alias at once.

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Calls `check` on every SIGHUP; never returns (pending forever where SIGHUP cannot be
/// listened for).
pub async fn reload_requests(check: impl Fn()) {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangups) => {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP received: checking the model alias now");
                check();
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot listen for SIGHUP"),
    }
    #[cfg(not(unix))]
    let _ = check;
    std::future::pending::<()>().await;
}
