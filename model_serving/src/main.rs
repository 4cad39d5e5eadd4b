//! model-serving: configuration, logging, bind, serve until SIGTERM/SIGINT, graceful shutdown.

use std::process::ExitCode;

use anyhow::Context;
use model_serving::config::Config;

// musl's allocator halved a static musl build's throughput beside glibc's (docs/serving.md).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            // Hidden URL credentials: the causes (the config crate's own errors) may echo a value.
            let message = object_storage::redact_urls(&format!("{:#}", anyhow::Error::from(e)));
            eprintln!("model-serving: configuration error: {message}");
            return ExitCode::from(2);
        }
    };
    model_serving::logging::init(&config);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the message and each cause once (no error repeats its source in its text).
            let message = object_storage::redact_urls(&format!("{e:#}"));
            tracing::error!("{message}");
            eprintln!("model-serving: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (SERVICE_HOST/SERVICE_PORT); is the port in use?"))?;
    let service = model_serving::start(config, listener).await?;
    tokio::select! {
        () = model_serving::shutdown::signal() => {}
        () = model_serving::shutdown::reload_requests(|| service.check_model_now()) => {}
    }
    tokio::select! {
        stopped = service.shutdown() => stopped.context("the HTTP server stopped with an error")?,
        // A second Ctrl-C (or SIGTERM) does not wait for the drain.
        () = model_serving::shutdown::signal() => tracing::warn!("second signal: stopping without waiting for the drain"),
    }
    tracing::info!("stopped");
    Ok(())
}
