//! model_serving: the inference service for autoencoder anomaly detection.
//!
//! [`start`] loads the model, serves the HTTP API on a bound listener, registers with the core
//! engines (if any), and returns a [`Service`] whose [`Service::shutdown`] drains everything in
//! order. `main.rs` only adds configuration, logging and signals around it, so integration tests
//! run exactly what production runs, on `127.0.0.1:0`.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod config;
pub mod core_engine;
pub mod drift;
pub mod error_text;
pub mod http;
pub mod inference;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod model_follow;
pub mod model_loader;
pub mod served_model;
pub mod shadow;
pub mod shutdown;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::core_engine::store::TaskStore;
use crate::core_engine::worker::WorkerContext;
use crate::core_engine::{EngineSettings, Engines, HostRules, Tasks};
use crate::http::{AppState, Lifecycle};
use crate::inference::Scorer;
use crate::metrics::Metrics;
use crate::served_model::CurrentModel;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Model(#[from] model_loader::LoadError),
    #[error("setting up metrics failed")]
    Metrics(#[from] prometheus::Error),
    #[error("the listener has no local address")]
    Listener(#[source] std::io::Error),
    #[error("building the HTTP client failed")]
    HttpClient(#[from] reqwest::Error),
    #[error("serializing the OpenAPI document failed")]
    OpenApi(#[from] serde_json::Error),
    #[error("cannot start streaming from MQTT_URL")]
    Stream(#[from] stream::StartError),
    #[error(
        "SHADOW_MODEL_URI names a registry alias, and MODEL_REGISTRY is not set; set MODEL_REGISTRY to the registry"
    )]
    ShadowWithoutRegistry,
}

/// Starts following the shadow model's alias and the worker that scores with it. Its reloads
/// are logged, not counted in `model_reloads_total`, which is the served model's.
async fn start_shadow(
    config: &Config,
    wanted: &config::ShadowModel,
    metrics: Arc<Metrics>,
) -> Result<Arc<shadow::Shadow>, StartError> {
    let root = config.model_registry.as_ref().ok_or(StartError::ShadowWithoutRegistry)?;
    let registry = Arc::new(model_loader::open_registry(root)?);
    let name = wanted.name.clone().unwrap_or_else(|| config.model_name.clone());
    let (model, follow) = model_loader::first_of_alias(registry, root.to_string(), &name, &wanted.alias).await;
    if model.is_none() {
        tracing::warn!(shadow = %format!("{name}@{}", wanted.alias), "no shadow model yet: inputs are not shadow-scored until the alias names a loadable version");
    }
    let current = Arc::new(CurrentModel::unlisted(model));
    let follow = model_follow::spawn(follow, current.clone(), Arc::new(Metrics::new()?), config.model_refresh_interval);
    Ok(shadow::Shadow::start(current, follow, config.shadow_queue, metrics))
}

/// A running service.
pub struct Service {
    addr: SocketAddr,
    state: AppState,
    server: http::server::Server,
    dispatcher: JoinHandle<()>,
    engines: Option<Engines>,
    stream: Option<stream::Stream>,
}

/// Loads the model, starts serving on `listener`, then announces to the engines.
pub async fn start(config: Config, listener: TcpListener) -> Result<Service, StartError> {
    let started = std::time::Instant::now();
    // Secrets are redacted by their types' Debug; URLs may carry credentials of their own.
    tracing::info!(config = %object_storage::redact_urls(&format!("{config:?}")), "effective configuration");
    let model_source = config.model();
    let initial = model_loader::start(&model_source, &config.model_path).await?;
    let metrics = Arc::new(Metrics::new()?);
    if let Some(model) = &initial.model {
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, source = %model.source, "model loaded");
    }
    let current = Arc::new(CurrentModel::new(initial.model, metrics.clone()));
    let follow = match initial.follow {
        Some(follow) => {
            metrics.follow_alias()?;
            Some(model_follow::spawn(follow, current.clone(), metrics.clone(), config.model_refresh_interval))
        }
        None => None,
    };
    // One CPU slot and one engine task worker per core.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let drift = Arc::new(drift::DriftTracker::new(config.drift_window));
    let mut scorer =
        Scorer::new(current, &model_source.to_string(), metrics.clone(), cores, config.memory_budget, drift);
    if let Some(wanted) = &config.shadow_model {
        scorer = scorer.with_shadow(start_shadow(&config, wanted, metrics.clone()).await?);
    }

    let http_client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let worker_ctx = WorkerContext {
        scorer: scorer.clone(),
        http: http_client.clone(),
        metrics: metrics.clone(),
        store: Arc::new(TaskStore::new(config.task_retention)),
        max_input_bytes: config.max_body_bytes,
    };
    let rules = HostRules::new(&config.engine_urls, &config.engine_callback_hosts, &config.engine_s3_hosts);
    let (tasks, dispatcher) = Tasks::start(worker_ctx, rules, config.max_tasks, cores);

    let stream = match &config.mqtt_url {
        Some(url) => Some(stream::start(url, &config, scorer.clone(), &metrics)?),
        None => None,
    };
    let config = Arc::new(config);
    let state = AppState {
        config: config.clone(),
        scorer,
        metrics: metrics.clone(),
        lifecycle: Arc::new(Lifecycle::default()),
        tasks,
        follow,
        started: std::time::Instant::now(),
        broker_connected: stream.as_ref().map(stream::Stream::connected),
    };
    let addr = listener.local_addr().map_err(StartError::Listener)?;
    let app = http::router(state.clone())?;
    let limits = http::server::Limits {
        header_read_timeout: config.header_read_timeout,
        keep_alive_timeout: config.keep_alive_timeout,
        max_connections: config.max_connections,
    };
    let server = http::server::Server::start(listener, app, state.lifecycle.clone(), metrics.clone(), limits);
    tracing::info!(%addr, "serving");

    // Only now: the engine calls GET /status while it handles the announcement.
    let engines = (!config.engine_urls.is_empty()).then(|| {
        let settings = EngineSettings {
            urls: config.engine_urls.clone(),
            service_url: config.service_url.clone(),
            retries: config.engine_announce_retries,
            retry_delay: config.engine_announce_retry_delay,
            ping_interval: config.engine_ping_interval,
        };
        Engines::start(settings, http_client, metrics)
    });
    Ok(Service { addr, state, server, dispatcher, engines, stream })
}

impl Service {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Checks the followed registry alias at once (SIGHUP); nothing without one.
    pub fn check_model_now(&self) {
        if let Some(follow) = &self.state.follow {
            follow.check_now();
        }
        if let Some(shadow) = self.state.scorer.shadow() {
            shadow.check_now();
        }
    }

    /// Graceful shutdown, bounded whatever clients do. Readiness turns 503, responses carry
    /// `Connection: close` and engine tasks are refused; for SHUTDOWN_DRAIN requests are still
    /// served (load balancers stop sending meanwhile); then the listener closes and connections
    /// finish their request; whatever is still open SHUTDOWN_TIMEOUT after the drain is dropped.
    /// Alongside, queued engine tasks run to their callback and the service is then marked
    /// `sleeping` on every engine; the listener stays open for them past the drain (the engine
    /// may poll a task's status), for at most half of SHUTDOWN_TIMEOUT.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let config = &self.state.config;
        let (drain, timeout) = (config.shutdown_drain, config.shutdown_timeout);
        tracing::info!(
            drain_s = drain.as_secs_f64(),
            timeout_s = timeout.as_secs_f64(),
            "shutting down: readiness answers 503 for SHUTDOWN_DRAIN while requests are still served, then the \
             listener closes and open requests get SHUTDOWN_TIMEOUT to finish"
        );
        let started = tokio::time::Instant::now();
        let drained = started + drain;
        let deadline = drained + timeout;
        self.state.lifecycle.start_draining();
        self.state.tasks.close();
        if let Some(follow) = &self.state.follow {
            follow.stop();
        }
        // Streamed messages in hand are finished at once: no broker waits for a drain.
        let stream_side = self.stream.map(|s| tokio::spawn(s.shutdown(timeout / 2)));
        let mut engine_side = tokio::spawn(engine_shutdown(self.dispatcher, self.engines, drained + timeout / 2));
        tokio::time::sleep_until(drained).await;
        let engine_done = tokio::time::timeout_at(drained + timeout / 2, &mut engine_side).await.is_ok();
        tracing::info!("closing the listener; open connections finish their current request");
        let served = self.server.shutdown(deadline).await;
        if !engine_done && tokio::time::timeout_at(deadline, &mut engine_side).await.is_err() {
            tracing::warn!("marking the service sleeping on the engines did not finish by SHUTDOWN_TIMEOUT");
            engine_side.abort();
        }
        if let Some(stream_side) = stream_side {
            let _ = stream_side.await;
        }
        served
    }
}

/// Queued engine tasks run to their callback until `tasks_until`, then every engine is told the
/// service is `sleeping`.
async fn engine_shutdown(mut dispatcher: JoinHandle<()>, engines: Option<Engines>, tasks_until: tokio::time::Instant) {
    if tokio::time::timeout_at(tasks_until, &mut dispatcher).await.is_err() {
        tracing::warn!("engine tasks still queued or running at half of SHUTDOWN_TIMEOUT are abandoned");
        dispatcher.abort();
    }
    if let Some(engines) = engines {
        engines.sleep().await;
    }
}
