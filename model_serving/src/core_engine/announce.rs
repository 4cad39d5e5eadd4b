//! Registration with each core engine: announce once the listener serves (the engine calls
//! `GET /status` while it handles the announcement), re-announce on 409 by PATCHing the stored
//! description, ping every ENGINE_PING_INTERVAL, announce again when a ping answers 404 (the
//! engine lost its database), and mark the service `sleeping` on shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::protocol::{SERVICE_SLUG, service_description};
use crate::error_text::chain;
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
                    let client = Client { shared: &shared, url: &engine };
                    tokio::select! {
                        _ = keep_registered(&client, &shared.settings, &shared.metrics) => {}
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

/// What keeping registered asks of one engine: HTTP in production ([`Client`]), a script in the
/// timing tests.
trait Registration {
    fn url(&self) -> &str;
    /// One announcement; the service id, or what went wrong.
    async fn announce(&self) -> Result<String, String>;
    async fn ping(&self) -> Ping;
}

/// How a ping went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ping {
    Ok,
    /// 404: the engine no longer knows the service (it lost its database).
    Unknown,
    Failed(String),
}

/// Announces (with retries), then pings every ENGINE_PING_INTERVAL and announces again when a
/// ping answers 404.
async fn keep_registered(engine: &impl Registration, settings: &EngineSettings, metrics: &Metrics) {
    announce_with_retries(engine, settings, metrics).await;
    let mut ticker = tokio::time::interval(settings.ping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let url = object_storage::redact_urls(engine.url());
        match engine.ping().await {
            Ping::Ok => tracing::debug!(engine = %url, "ping ok"),
            Ping::Unknown => {
                tracing::warn!(engine = %url, "the engine no longer knows this service (ping answered 404); announcing again");
                announce_with_retries(engine, settings, metrics).await;
            }
            Ping::Failed(problem) => tracing::warn!(engine = %url, %problem, "ping failed"),
        }
    }
}

/// ENGINE_ANNOUNCE_RETRIES attempts (at least one), ENGINE_ANNOUNCE_RETRY_DELAY apart; after the
/// last one the service waits for a ping to answer 404 to try again.
async fn announce_with_retries(engine: &impl Registration, settings: &EngineSettings, metrics: &Metrics) {
    let attempts = settings.retries.max(1);
    let policy = ConstantBuilder::new().with_delay(settings.retry_delay).with_max_times(attempts as usize - 1);
    // As logged: without the credentials an engine URL may carry.
    let url = object_storage::redact_urls(engine.url());
    let attempt = || async {
        let result = engine.announce().await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics.engine_announces.with_label_values(&[outcome]).inc();
        result
    };
    let result = attempt
        .retry(policy)
        .notify(
            |problem, wait| tracing::warn!(engine = %url, %problem, retry_in = ?wait, "announcing failed; retrying"),
        )
        .await;
    match result {
        Ok(id) => tracing::info!(engine = %url, service_id = %id, "announced to the engine"),
        Err(problem) => {
            tracing::error!(engine = %url, %problem, attempts, "announcing failed; will retry when a ping answers 404")
        }
    }
}

/// One engine over HTTP.
struct Client<'a> {
    shared: &'a Shared,
    url: &'a str,
}

impl Registration for Client<'_> {
    fn url(&self) -> &str {
        self.url
    }

    async fn announce(&self) -> Result<String, String> {
        let id = self.shared.announce(self.url).await?;
        self.shared.ids.lock().unwrap_or_else(|p| p.into_inner()).insert(self.url.to_string(), id.clone());
        Ok(id)
    }

    async fn ping(&self) -> Ping {
        let (shared, url) = (self.shared, self.url);
        match shared.http.post(format!("{url}/services/{SERVICE_SLUG}/ping")).json(&shared.description).send().await {
            Ok(r) if r.status().is_success() => Ping::Ok,
            Ok(r) if r.status() == StatusCode::NOT_FOUND => Ping::Unknown,
            Ok(r) => Ping::Failed(format!("the engine answered {}", r.status())),
            Err(e) => Ping::Failed(format!("engine unreachable: {}", chain(&e))),
        }
    }
}

impl Shared {
    /// One announcement: POST, or on 409 look the id up by slug and PATCH the description.
    async fn announce(&self, engine: &str) -> Result<String, String> {
        let r = self.http.post(format!("{engine}/services")).json(&self.description).send().await;
        let r = r.map_err(|e| format!("POST /services: engine unreachable: {}", chain(&e)))?;
        match r.status() {
            s if s.is_success() => service_id(r).await,
            StatusCode::CONFLICT => {
                tracing::info!(%engine, "service already registered (409); updating its description");
                let id = self.lookup_id(engine).await?;
                let r = self.http.patch(format!("{engine}/services/{id}")).json(&self.description).send().await;
                let r = r.map_err(|e| format!("PATCH /services/{id}: engine unreachable: {}", chain(&e)))?;
                if r.status().is_success() { Ok(id) } else { Err(answer(&format!("PATCH /services/{id}"), r).await) }
            }
            _ => Err(answer("POST /services", r).await),
        }
    }

    async fn lookup_id(&self, engine: &str) -> Result<String, String> {
        let r = self.http.get(format!("{engine}/services/slug/{SERVICE_SLUG}")).send().await;
        let r = r.map_err(|e| format!("GET /services/slug/{SERVICE_SLUG}: engine unreachable: {}", chain(&e)))?;
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
                        let engine = object_storage::redact_urls(engine);
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
    let body: Value = r.json().await.map_err(|e| format!("the engine's answer is not JSON: {}", chain(&e)))?;
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use tokio::time::{Instant, advance};
    use tokio_test::{assert_pending, task};

    use super::*;

    /// An engine that answers from a script and notes when each call came (paused clock).
    struct Scripted {
        start: Instant,
        announces: Mutex<VecDeque<Result<String, String>>>,
        pings: Mutex<VecDeque<Ping>>,
        calls: Mutex<Vec<(&'static str, f64)>>,
    }

    impl Scripted {
        fn new(announces: Vec<Result<String, String>>, pings: Vec<Ping>) -> Scripted {
            Scripted {
                start: Instant::now(),
                announces: Mutex::new(announces.into()),
                pings: Mutex::new(pings.into()),
                calls: Mutex::new(Vec::new()),
            }
        }

        fn note(&self, call: &'static str) {
            self.calls.lock().unwrap().push((call, self.start.elapsed().as_secs_f64()));
        }

        fn calls(&self) -> Vec<(&'static str, f64)> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Registration for Scripted {
        fn url(&self) -> &str {
            "http://engine"
        }

        async fn announce(&self) -> Result<String, String> {
            self.note("announce");
            self.announces.lock().unwrap().pop_front().unwrap_or(Ok("id".into()))
        }

        async fn ping(&self) -> Ping {
            self.note("ping");
            self.pings.lock().unwrap().pop_front().unwrap_or(Ping::Ok)
        }
    }

    fn engine_settings(retries: u32, retry_delay: u64, ping_interval: u64) -> EngineSettings {
        EngineSettings {
            urls: vec!["http://engine".into()],
            service_url: "http://service:9090".into(),
            retries,
            retry_delay: Duration::from_secs(retry_delay),
            ping_interval: Duration::from_secs(ping_interval),
        }
    }

    fn count(metrics: &Metrics, outcome: &str) -> u64 {
        metrics.engine_announces.with_label_values(&[outcome]).get()
    }

    #[tokio::test(start_paused = true)]
    async fn announcing_tries_engine_announce_retries_times_retry_delay_apart() {
        let metrics = Metrics::new().unwrap();
        let engine = Scripted::new(vec![Err("down".into()), Err("down".into()), Ok("id-1".into())], vec![]);
        let settings = engine_settings(5, 3, 20);
        let mut registered = task::spawn(keep_registered(&engine, &settings, &metrics));
        assert_pending!(registered.poll());
        assert_eq!(engine.calls(), [("announce", 0.0)]);
        advance(Duration::from_millis(2999)).await;
        assert_pending!(registered.poll());
        assert_eq!(engine.calls().len(), 1, "not before ENGINE_ANNOUNCE_RETRY_DELAY");
        advance(Duration::from_millis(1)).await;
        assert_pending!(registered.poll());
        advance(Duration::from_secs(3)).await;
        assert_pending!(registered.poll());
        assert_eq!(engine.calls(), [("announce", 0.0), ("announce", 3.0), ("announce", 6.0)]);
        assert_eq!((count(&metrics, "failed"), count(&metrics, "ok")), (2, 1));

        // All attempts failing: exactly ENGINE_ANNOUNCE_RETRIES of them, then pings wait for a 404.
        let metrics = Metrics::new().unwrap();
        let engine = Scripted::new((0..9).map(|_| Err("down".into())).collect(), vec![]);
        let settings = engine_settings(3, 3, 20);
        let _ = tokio::time::timeout(Duration::from_secs(30), keep_registered(&engine, &settings, &metrics)).await;
        assert_eq!(
            engine.calls(),
            [("announce", 0.0), ("announce", 3.0), ("announce", 6.0), ("ping", 26.0)],
            "three attempts, then the first ping one interval later"
        );
        assert_eq!((count(&metrics, "failed"), count(&metrics, "ok")), (3, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn pings_come_every_interval_and_a_404_announces_again() {
        let metrics = Metrics::new().unwrap();
        let engine = Scripted::new(vec![], vec![Ping::Ok, Ping::Failed("503".into()), Ping::Unknown, Ping::Ok]);
        let settings = engine_settings(5, 3, 20);
        let mut registered = task::spawn(keep_registered(&engine, &settings, &metrics));
        assert_pending!(registered.poll());
        advance(Duration::from_millis(19_999)).await;
        assert_pending!(registered.poll());
        assert_eq!(engine.calls(), [("announce", 0.0)], "no ping before ENGINE_PING_INTERVAL");
        advance(Duration::from_millis(1)).await;
        assert_pending!(registered.poll());
        assert_eq!(engine.calls(), [("announce", 0.0), ("ping", 20.0)]);
        drop(registered);

        let engine = Scripted::new(vec![], vec![Ping::Ok, Ping::Failed("503".into()), Ping::Unknown, Ping::Ok]);
        let _ = tokio::time::timeout(Duration::from_secs(85), keep_registered(&engine, &settings, &metrics)).await;
        assert_eq!(
            engine.calls(),
            [("announce", 0.0), ("ping", 20.0), ("ping", 40.0), ("ping", 60.0), ("announce", 60.0), ("ping", 80.0)]
        );
    }
}
