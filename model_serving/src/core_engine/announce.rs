//! Registration with each core engine: announce once the listener serves (the engine calls
//! `GET /status` while it handles the announcement), re-announce on 409 by PATCHing the stored
//! description, ping every ENGINE_PING_INTERVAL, announce again when a ping answers 404 (the
//! engine lost its database), and mark the service `sleeping` on shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::protocol::{SERVICE_SLUG, service_description};
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub urls: Vec<String>,
    pub service_url: String,
    pub retries: u32,
    pub retry_delay: Duration,
    pub ping_interval: Duration,
}

/// Registration state with every engine; dropping it does not unregister (call `sleep`).
pub struct Engines {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

struct Shared {
    settings: EngineSettings,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    description: Value,
    /// Service id per engine URL, once known.
    ids: Mutex<HashMap<String, String>>,
}

impl Engines {
    /// Announces to every engine in the background and keeps pinging; never blocks the server.
    pub fn start(settings: EngineSettings, http: reqwest::Client, metrics: Arc<Metrics>) -> Engines {
        let description = service_description(&settings.service_url);
        let shared = Arc::new(Shared { settings, http, metrics, description, ids: Mutex::new(HashMap::new()) });
        let (stop, stop_rx) = watch::channel(false);
        let loops = shared
            .settings
            .urls
            .iter()
            .map(|engine| {
                let (shared, engine, mut stop_rx) = (shared.clone(), engine.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = shared.lifecycle(&engine) => {}
                        _ = stop_rx.wait_for(|stopped| *stopped) => {}
                    }
                })
            })
            .collect();
        Engines { shared, stop, loops }
    }

    /// Stops pinging and PATCHes the service to `sleeping` on every engine.
    pub async fn sleep(self) {
        let _ = self.stop.send(true);
        for handle in self.loops {
            let _ = handle.await;
        }
        let shared = self.shared;
        let calls = shared.settings.urls.iter().map(|engine| shared.mark_sleeping(engine));
        futures_util::future::join_all(calls).await;
    }
}

impl Shared {
    async fn lifecycle(&self, engine: &str) {
        self.announce_with_retries(engine).await;
        let mut ticker = tokio::time::interval(self.settings.ping_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match self.http.post(format!("{engine}/services/{SERVICE_SLUG}/ping")).json(&self.description).send().await
            {
                Ok(r) if r.status().is_success() => tracing::debug!(%engine, "ping ok"),
                Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                    tracing::warn!(%engine, "the engine no longer knows this service (ping answered 404); announcing again");
                    self.announce_with_retries(engine).await;
                }
                Ok(r) => tracing::warn!(%engine, status = %r.status(), "ping refused"),
                Err(e) => tracing::warn!(%engine, error = %e, "ping failed: engine unreachable"),
            }
        }
    }

    async fn announce_with_retries(&self, engine: &str) {
        let attempts = self.settings.retries.max(1);
        for attempt in 1..=attempts {
            match self.announce(engine).await {
                Ok(id) => {
                    tracing::info!(%engine, service_id = %id, "announced to the engine");
                    self.metrics.engine_announces.with_label_values(&["ok"]).inc();
                    self.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(engine.to_string(), id);
                    return;
                }
                Err(problem) => {
                    self.metrics.engine_announces.with_label_values(&["failed"]).inc();
                    if attempt == attempts {
                        tracing::error!(%engine, %problem, attempts, "announcing failed; will retry when a ping answers 404");
                    } else {
                        tracing::warn!(%engine, %problem, attempt, "announcing failed; retrying");
                        tokio::time::sleep(self.settings.retry_delay).await;
                    }
                }
            }
        }
    }

    /// One announcement: POST, or on 409 look the id up by slug and PATCH the description.
    async fn announce(&self, engine: &str) -> Result<String, String> {
        let r = self.http.post(format!("{engine}/services")).json(&self.description).send().await;
        let r = r.map_err(|e| format!("POST /services: engine unreachable: {e}"))?;
        match r.status() {
            s if s.is_success() => service_id(r).await,
            StatusCode::CONFLICT => {
                tracing::info!(%engine, "service already registered (409); updating its description");
                let id = self.lookup_id(engine).await?;
                let r = self.http.patch(format!("{engine}/services/{id}")).json(&self.description).send().await;
                let r = r.map_err(|e| format!("PATCH /services/{id}: engine unreachable: {e}"))?;
                if r.status().is_success() { Ok(id) } else { Err(answer(&format!("PATCH /services/{id}"), r).await) }
            }
            _ => Err(answer("POST /services", r).await),
        }
    }

    async fn lookup_id(&self, engine: &str) -> Result<String, String> {
        let r = self.http.get(format!("{engine}/services/slug/{SERVICE_SLUG}")).send().await;
        let r = r.map_err(|e| format!("GET /services/slug/{SERVICE_SLUG}: engine unreachable: {e}"))?;
        if !r.status().is_success() {
            return Err(answer(&format!("GET /services/slug/{SERVICE_SLUG}"), r).await);
        }
        service_id(r).await
    }

    async fn mark_sleeping(&self, engine: &str) {
        let id = match self.lookup_id(engine).await {
            Ok(id) => id,
            Err(problem) => {
                let known = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(engine).cloned();
                match known {
                    Some(id) => id,
                    None => {
                        tracing::warn!(%engine, %problem, "cannot mark the service sleeping: id unknown");
                        return;
                    }
                }
            }
        };
        let body = json!({"status": "sleeping"});
        match self.http.patch(format!("{engine}/services/{id}")).json(&body).send().await {
            Ok(r) if r.status().is_success() => tracing::info!(%engine, "service marked sleeping on the engine"),
            Ok(r) => tracing::warn!(%engine, status = %r.status(), "marking the service sleeping was refused"),
            Err(e) => tracing::warn!(%engine, error = %e, "marking the service sleeping failed: engine unreachable"),
        }
    }
}

async fn service_id(r: reqwest::Response) -> Result<String, String> {
    let body: Value = r.json().await.map_err(|e| format!("the engine's answer is not JSON: {e}"))?;
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("no \"id\" in the engine's answer {body}"))
}

async fn answer(what: &str, r: reqwest::Response) -> String {
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    format!("{what}: the engine answered {status}: {body}")
}
