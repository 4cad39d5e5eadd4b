//! Which hosts an engine task message may make the service talk to.
//!
//! A task message names the S3 server the service reads from and writes to (`s3_host`) and the
//! URL it PATCHes the result to (`callback_url`). Anyone who can reach `POST /compute` can send
//! one, so without rules the service would GET, PUT and PATCH any host a stranger names, and the
//! callback's error text would tell them which ports are open. The real core engine sends no
//! credentials to check, and its S3 server is another host than the engine, so the rules are
//! about hosts: tasks only when the service has engines (`ENGINE_URLS`), callbacks only to an
//! engine or to `ENGINE_CALLBACK_HOSTS`, S3 only on `ENGINE_S3_HOSTS`. Hosts compare as origins
//! (scheme, host, port; the port a scheme implies counts as written).

use super::protocol::ServiceTask;

/// The origins tasks may name; from the configuration.
#[derive(Debug, Clone, Default)]
pub struct HostRules {
    engines: Vec<String>,
    callbacks: Vec<String>,
    s3: Vec<String>,
}

/// Why a task message was refused; the message names the setting that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this service takes no engine tasks: ENGINE_URLS is empty; set it to the core engine's URL")]
    NoEngines,
    #[error(
        "callback_url {origin:?} is not one of the engines (ENGINE_URLS) nor of ENGINE_CALLBACK_HOSTS; \
         add its origin to ENGINE_CALLBACK_HOSTS if the engine calls back from there"
    )]
    Callback { origin: String },
    #[error("s3_host {origin:?} is not in ENGINE_S3_HOSTS; add it there if it is the engine's S3 server")]
    S3 { origin: String },
}

impl HostRules {
    /// `engines`, `callbacks` and `s3` are URLs; only their origins count.
    pub fn new(engines: &[String], callbacks: &[String], s3: &[String]) -> HostRules {
        let origins = |urls: &[String]| urls.iter().filter_map(|u| origin(u)).collect::<Vec<_>>();
        HostRules { engines: origins(engines), callbacks: origins(callbacks), s3: origins(s3) }
    }

    /// Whether the service takes tasks at all (it has engines).
    pub fn takes_tasks(&self) -> Result<(), Refusal> {
        if self.engines.is_empty() { Err(Refusal::NoEngines) } else { Ok(()) }
    }

    /// Whether the task may run; checked before anything is fetched or called.
    pub fn check(&self, task: &ServiceTask) -> Result<(), Refusal> {
        self.takes_tasks()?;
        let callback = origin(&task.callback_url).unwrap_or_default();
        if !self.engines.contains(&callback) && !self.callbacks.contains(&callback) {
            return Err(Refusal::Callback { origin: shown(&task.callback_url, callback) });
        }
        let s3 = origin(&task.s3_host).unwrap_or_default();
        if !self.s3.contains(&s3) {
            return Err(Refusal::S3 { origin: shown(&task.s3_host, s3) });
        }
        Ok(())
    }
}

/// `scheme://host:port` of an http(s) URL (the port only where it is not the scheme's).
fn origin(url: &str) -> Option<String> {
    let url = reqwest::Url::parse(url.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// The origin for a message, or the text itself if it has none (never a user:password part).
fn shown(text: &str, origin: String) -> String {
    if origin.is_empty() { text.chars().take(200).collect() } else { origin }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn task(callback: &str, s3: &str) -> ServiceTask {
        serde_json::from_value(json!({
            "s3_access_key_id": "k", "s3_secret_access_key": "s", "s3_region": "r", "s3_host": s3,
            "s3_bucket": "b", "task": {"id": "t", "data_in": ["in.csv"]}, "callback_url": callback
        }))
        .unwrap()
    }

    fn rules() -> HostRules {
        HostRules::new(
            &["http://core-engine:8080".into()],
            &["https://engine.example.com".into()],
            &["http://minio:9000/".into()],
        )
    }

    #[test]
    fn a_task_from_the_engine_with_its_s3_server_is_allowed() {
        let ok =
            ["http://core-engine:8080/tasks/t", "https://engine.example.com:443/tasks/t", "HTTP://Core-Engine:8080/x"];
        for callback in ok {
            assert_eq!(rules().check(&task(callback, "http://minio:9000")), Ok(()), "{callback}");
        }
    }

    #[test]
    fn another_host_port_or_scheme_is_refused_naming_the_setting() {
        for callback in
            ["http://core-engine:8081/tasks/t", "https://core-engine:8080/tasks/t", "http://127.0.0.2:8080/"]
        {
            let e = rules().check(&task(callback, "http://minio:9000")).unwrap_err();
            assert!(matches!(e, Refusal::Callback { .. }), "{callback}: {e}");
            assert!(e.to_string().contains("ENGINE_CALLBACK_HOSTS"), "{e}");
        }
        let e = rules().check(&task("http://core-engine:8080/t", "http://user:pw@minio:9001")).unwrap_err();
        assert_eq!(e, Refusal::S3 { origin: "http://minio:9001".into() }, "no credentials in the message");
        assert!(e.to_string().contains("ENGINE_S3_HOSTS"), "{e}");
    }

    #[test]
    fn without_engines_every_task_is_refused() {
        let e = HostRules::default().check(&task("http://core-engine:8080/t", "http://minio:9000")).unwrap_err();
        assert_eq!(e, Refusal::NoEngines);
        assert!(e.to_string().contains("ENGINE_URLS"), "{e}");
    }
}
