//! A stand-in core engine: an axum server that answers as the real engine was observed to
//! (ENGINE-PROTOCOL.md), including the synchronous `GET {url}/status` during an announcement,
//! 409 on a known slug, 404 on a ping after it "lost its database", and 422 on a callback with
//! an unknown status or a `data_out` that is missing or not a list, each problem named by its
//! field. Every request it receives is reported on a channel, so tests wait for events instead
//! of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// What the stand-in answered.
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    /// slug -> (id, description)
    services: HashMap<String, (String, Value)>,
    /// When set, task callbacks wait for `release` before answering.
    hold_callbacks: bool,
    /// This many next task callbacks answer 503 (engine overloaded).
    fail_callbacks: usize,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Mutex<Inner>>,
    events: mpsc::UnboundedSender<Seen>,
    release: Arc<Notify>,
    http: reqwest::Client,
}

pub struct EngineHandle {
    pub url: String,
    pub engine: Engine,
    pub events: mpsc::UnboundedReceiver<Seen>,
}

impl EngineHandle {
    /// The next request with this method and path (a trailing `*` matches any rest); other
    /// requests are skipped.
    pub async fn wait_for(&mut self, method: &str, path: &str) -> Seen {
        let path_prefix = path.strip_suffix('*');
        let wait = async {
            loop {
                let seen = self.events.recv().await.expect("stand-in engine stopped");
                let path_matches = match path_prefix {
                    Some(p) => seen.path.starts_with(p),
                    None => seen.path == path,
                };
                if seen.method == method && path_matches {
                    return seen;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("no {method} {path} reached the stand-in engine within 30 s"))
    }

    /// Forget every service, as an engine that lost its database.
    pub fn forget_services(&self) {
        self.engine.inner.lock().unwrap().services.clear();
    }

    pub fn service_id(&self, slug: &str) -> Option<String> {
        self.engine.inner.lock().unwrap().services.get(slug).map(|(id, _)| id.clone())
    }

    pub fn fail_next_callbacks(&self, n: usize) {
        self.engine.inner.lock().unwrap().fail_callbacks = n;
    }

    pub fn hold_callbacks(&self, hold: bool) {
        self.engine.inner.lock().unwrap().hold_callbacks = hold;
        if !hold {
            self.engine.release.notify_waiters();
        }
    }
}

pub async fn start_engine() -> EngineHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = Engine {
        inner: Arc::default(),
        events: tx,
        release: Arc::new(Notify::new()),
        http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap(),
    };
    let app = Router::new().fallback(handle).with_state(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    EngineHandle { url, engine, events: rx }
}

fn detail(status: StatusCode, message: &str) -> (StatusCode, Value) {
    (status, json!({ "detail": message }))
}

async fn handle(State(engine): State<Engine>, method: Method, uri: Uri, body: axum::body::Bytes) -> Response {
    let path = uri.path().to_string();
    let body: Value = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, answer) = match (method.as_str(), segments.as_slice()) {
        ("POST", ["services"]) => announce(&engine, &body).await,
        ("GET", ["services", "slug", slug]) => {
            let found = engine.inner.lock().unwrap().services.get(*slug).cloned();
            match found {
                Some((id, desc)) => (StatusCode::OK, service_read(&id, &desc)),
                None => detail(StatusCode::NOT_FOUND, "Service Not Found"),
            }
        }
        ("PATCH", ["services", id]) => {
            let mut inner = engine.inner.lock().unwrap();
            let entry = inner.services.values_mut().find(|(sid, _)| sid == id);
            match entry {
                Some((sid, desc)) => {
                    if let (Some(d), Some(b)) = (desc.as_object_mut(), body.as_object()) {
                        for (k, v) in b {
                            d.insert(k.clone(), v.clone());
                        }
                    }
                    if desc["status"] != "available" {
                        desc["status"] = json!("unavailable");
                    }
                    (StatusCode::OK, service_read(sid, desc))
                }
                None => detail(StatusCode::NOT_FOUND, "Service Not Found"),
            }
        }
        ("POST", ["services", slug, "ping"]) => {
            if engine.inner.lock().unwrap().services.contains_key(*slug) {
                (StatusCode::OK, Value::Null)
            } else {
                detail(StatusCode::NOT_FOUND, "Service Not Found")
            }
        }
        ("PATCH", ["tasks", id]) => callback(&engine, id, &body).await,
        _ => detail(StatusCode::NOT_FOUND, "Not Found"),
    };
    let _ = engine.events.send(Seen { method: method.to_string(), path, body, status: status.as_u16() });
    (status, Json(answer)).into_response()
}

const TASK_STATUSES: [&str; 10] = [
    "pending",
    "fetching",
    "processing",
    "saving",
    "finished",
    "error",
    "scheduled",
    "skipped",
    "archived",
    "unavailable",
];

async fn callback(engine: &Engine, id: &str, body: &Value) -> (StatusCode, Value) {
    // FastAPI validates every field and lists each problem with its own location and type.
    let mut problems = Vec::new();
    match body.get("status") {
        None => problems.push(json!({"type": "missing", "loc": ["body", "status"], "msg": "Field required"})),
        Some(s) if !s.as_str().is_some_and(|s| TASK_STATUSES.contains(&s)) => {
            let allowed: Vec<String> = TASK_STATUSES.iter().map(|s| format!("'{s}'")).collect();
            problems.push(json!({"type": "enum", "loc": ["body", "status"],
                "msg": format!("Input should be {}", allowed.join(", ")), "input": s}));
        }
        Some(_) => {}
    }
    match body.get("data_out") {
        None => problems.push(json!({"type": "missing", "loc": ["body", "data_out"], "msg": "Field required"})),
        Some(v) if !v.is_array() => problems.push(
            json!({"type": "list_type", "loc": ["body", "data_out"], "msg": "Input should be a valid list", "input": v}),
        ),
        Some(_) => {}
    }
    if !problems.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, json!({ "detail": problems }));
    }
    let (hold, fail) = {
        let mut inner = engine.inner.lock().unwrap();
        let fail = inner.fail_callbacks > 0;
        inner.fail_callbacks = inner.fail_callbacks.saturating_sub(1);
        (inner.hold_callbacks, fail)
    };
    if fail {
        return detail(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    }
    if hold {
        let released = engine.release.notified();
        let _ = engine.events.send(Seen {
            method: "HELD".into(),
            path: format!("/tasks/{id}"),
            body: body.clone(),
            status: 0,
        });
        released.await;
    }
    (StatusCode::OK, json!({"id": id, "status": body["status"], "data_out": body["data_out"]}))
}

async fn announce(engine: &Engine, body: &Value) -> (StatusCode, Value) {
    let (Some(slug), Some(url), Some(name)) = (body["slug"].as_str(), body["url"].as_str(), body["name"].as_str())
    else {
        return (StatusCode::UNPROCESSABLE_ENTITY, json!({"detail": [{"type": "missing", "msg": "Field required"}]}));
    };
    if engine.inner.lock().unwrap().services.contains_key(slug) {
        return detail(StatusCode::CONFLICT, &format!("Service with slug '{slug}' already exists."));
    }
    // The real engine checks the service synchronously, with a 5 s timeout.
    let check = engine.http.get(format!("{}/status", url.trim_end_matches('/'))).send().await;
    let _ = engine.events.send(Seen {
        method: "CHECK".into(),
        path: "/status".into(),
        body: Value::Null,
        status: check.as_ref().map_or(0, |r| r.status().as_u16()),
    });
    match check {
        Ok(r) if r.status() == StatusCode::OK => {
            let id = uuid::Uuid::new_v4().to_string();
            let mut desc = body.clone();
            desc["status"] = json!("available");
            engine.inner.lock().unwrap().services.insert(slug.to_string(), (id.clone(), desc.clone()));
            (StatusCode::OK, service_read(&id, &desc))
        }
        Ok(_) => detail(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "The service {name} did not respond with an OK status, it will be saved in the database as unavailable"
            ),
        ),
        Err(e) => detail(StatusCode::SERVICE_UNAVAILABLE, &format!("Service {name} ({slug}) unreachable: {e}")),
    }
}

fn service_read(id: &str, desc: &Value) -> Value {
    let mut read = desc.clone();
    read["id"] = json!(id);
    read["latest_ping"] = Value::Null;
    read
}
