//! Service configuration: built-in defaults, then an optional file named by `CONFIG_FILE`
//! (TOML, YAML or JSON, keys as the variable names in any case), then environment variables
//! (a `.env` file in the working directory is read first, as the Python service did).
//!
//! Each setting is declared once, in the `settings!` table below: its variable, the [`Config`]
//! field it fills, its type, its default (written as the variable would be) and the check that
//! turns the text into the value. From that table come [`Config`], the serde struct the `config`
//! crate fills, [`variables`], and the settings table of docs/serving.md ([`settings_table`]; a
//! test keeps the doc equal to it). Every value is checked once, at start-up: a bad one stops
//! the service with a message naming the variable, what it holds and what was expected.

mod read;
mod stream_values;
mod values;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use object_storage::{AwsEnv, DEFAULT_REGION, S3Options};

pub use stream_values::{MqttUrl, Partition, Secret};
pub use values::{ApiKey, ConfigError, CorsOrigins, ENGINE_PING_DEADLINE, Environment, RegistryRoot, ShadowModel};

/// A setting as docs/serving.md lists it.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub variable: &'static str,
    /// What the value is (the doc line of its declaration).
    pub format: &'static str,
    /// As the variable would be written; empty for "not set".
    pub default: &'static str,
}

/// Declares every setting once; see the module documentation.
macro_rules! settings {
    ($(
        #[doc = $doc:literal]
        $variable:ident => $field:ident: $ty:ty = $default:literal, $check:expr;
    )*) => {
        /// The service's configuration, checked. Its `Debug` shows no secret: MODEL_URI's S3
        /// keys are in [`S3Options`] and API_KEY in [`ApiKey`], whose `Debug` redact them.
        #[derive(Debug, Clone)]
        pub struct Config {
            $( #[doc = concat!("`", stringify!($variable), "`:", $doc)] pub $field: $ty, )*
        }

        /// Each setting's text as read, before any check. No `Debug`: API_KEY's text is here.
        #[derive(Default, serde::Deserialize)]
        #[serde(default)]
        #[allow(non_snake_case)]
        struct Settings {
            $( $variable: Option<read::Raw>, )*
        }

        /// Every setting, in the order of the docs table.
        pub const SETTINGS: &[Setting] =
            &[$( Setting { variable: stringify!($variable), format: $doc, default: $default }, )*];

        impl Settings {
            /// Checks every setting, the default where it is not set.
            fn check(&self, aws: &AwsEnv) -> Result<Config, ConfigError> {
                Ok(Config {
                    $( $field: ($check)(&values::Value {
                        variable: stringify!($variable),
                        text: self.$variable.as_ref().map_or($default, |raw| raw.0.as_str()),
                        aws,
                    })?, )*
                })
            }
        }
    };
}

settings! {
    /// IP address to listen on
    SERVICE_HOST => host: IpAddr = "0.0.0.0", values::ip_address;
    /// port
    SERVICE_PORT => port: u16 = "9090", values::port;
    /// URL the engine calls back
    SERVICE_URL => service_url: String = "http://localhost:9090", values::http_url;
    /// JSON list of URLs, e.g. `["http://core-engine-service:8080"]`; empty: standalone, no announce
    ENGINE_URLS => engine_urls: Vec<String> = "[]", values::url_list;
    /// integer (attempts per engine)
    ENGINE_ANNOUNCE_RETRIES => engine_announce_retries: u32 = "5", values::count;
    /// seconds
    ENGINE_ANNOUNCE_RETRY_DELAY => engine_announce_retry_delay: Duration = "3", |v| values::seconds(v, true);
    /// seconds, below 50 (the engine's limit)
    ENGINE_PING_INTERVAL => engine_ping_interval: Duration = "20", values::ping_interval;
    /// JSON list of origins a task's `callback_url` may name besides the ENGINE_URLS ones
    ENGINE_CALLBACK_HOSTS => engine_callback_hosts: Vec<String> = "[]", values::origin_list;
    /// JSON list of origins a task's `s3_host` may name, e.g. `["http://minio:9000"]`; empty: every task is refused
    ENGINE_S3_HOSTS => engine_s3_hosts: Vec<String> = "[]", values::origin_list;
    /// integer >= 1: engine tasks accepted and not yet called back
    MAX_TASKS => max_tasks: usize = "50", |v| values::at_least_one(v, "a whole number >= 1 (queued engine tasks)");
    /// trace, debug, info, warn, error (`RUST_LOG` overrides with full directives)
    LOG_LEVEL => log_level: String = "info", values::log_level;
    /// development (readable logs), production (JSON logs)
    ENVIRONMENT => environment: Environment = "development", values::environment;
    /// local model directory
    MODEL_PATH => model_path: PathBuf = "model_creation/model", values::model_dir;
    /// `s3://bucket/prefix/` of a published model or model set (`model-creation publish`; wins over MODEL_PATH)
    MODEL_URI => model_uri: Option<Box<S3Options>> = "", values::model_uri;
    /// `s3://bucket/prefix` or a local directory: a model registry (`model-creation models`); wins over MODEL_URI and MODEL_PATH
    MODEL_REGISTRY => model_registry: Option<RegistryRoot> = "", values::model_registry;
    /// the registry model to serve
    MODEL_NAME => model_name: String = "ae-anomaly-detection", values::registry_name;
    /// the registry alias to serve and follow: a move of the alias is picked up without a restart (see MODEL_REFRESH_INTERVAL); before the alias exists MODEL_PATH is served if it holds a model, else the service stays unready
    MODEL_ALIAS => model_alias: String = "champion", values::registry_name;
    /// a registry version to serve instead of MODEL_ALIAS, pinned (never refreshed); empty: follow MODEL_ALIAS
    MODEL_VERSION => model_version: Option<String> = "", values::optional_registry_name;
    /// seconds between checks of MODEL_ALIAS (a conditional request: an unchanged alias costs one small round trip, no download); 0: no periodic checks (SIGHUP still checks at once)
    MODEL_REFRESH_INTERVAL => model_refresh_interval: Duration = "30", |v| values::seconds(v, true);
    /// bytes, for request bodies and engine task inputs (67108864 is 64 MiB)
    MAX_BODY_BYTES => max_body_bytes: usize = "67108864",
        |v| values::at_least_one(v, "a number of bytes >= 1, e.g. 67108864");
    /// bytes large requests (over 32 KiB) may hold in memory at once, each reserving an estimate of its peak (2× its body) before its body is read: one that finds too little free waits up to 2 s, then gets 503 with Retry-After, and one that needs more than the whole budget gets 413; `auto`: 75% of the cgroup memory limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) when there is one, else no budget; `unlimited`: no budget
    MEMORY_BUDGET => memory_budget: Option<u64> = "auto", values::memory_budget;
    /// seconds
    REQUEST_TIMEOUT => request_timeout: Duration = "30", |v| values::seconds(v, false);
    /// bearer token required by synchronous scoring (`Authorization: Bearer ...`); empty: open
    API_KEY => api_key: Option<ApiKey> = "", values::api_key;
    /// `*` (any origin, without credentials) or a JSON list of browser origins
    CORS_ORIGINS => cors_origins: CorsOrigins = "*", values::cors_origins;
    /// seconds a finished task's status stays queryable
    TASK_RETENTION => task_retention: Duration = "3600", |v| values::seconds(v, true);
    /// seconds a client has to send a request's headers (on a new connection, counted from the connect)
    HEADER_READ_TIMEOUT => header_read_timeout: Duration = "10", |v| values::seconds(v, false);
    /// seconds a keep-alive connection may stay idle between requests
    KEEP_ALIVE_TIMEOUT => keep_alive_timeout: Duration = "60", |v| values::seconds(v, false);
    /// integer >= 1: client connections open at once (more wait in the listen backlog), or `auto`: the open-file limit (soft RLIMIT_NOFILE) minus a quarter of it (at least 64, at most half) kept for outgoing connections and files
    MAX_CONNECTIONS => max_connections: usize = "auto", values::max_connections;
    /// `NAME@ALIAS` or `@ALIAS` (MODEL_NAME) in MODEL_REGISTRY, e.g. `@challenger`: a second model that scores every request again off the request path, followed like MODEL_ALIAS; callers get the served model's answer only, and the `model_serving_shadow_*` metrics compare the two; empty: no shadow
    SHADOW_MODEL_URI => shadow_model: Option<values::ShadowModel> = "", values::shadow_model;
    /// integer >= 0: requests waiting for the shadow model at most; more are dropped and counted (`model_serving_shadow_jobs_total{outcome="dropped"}`), never delaying callers
    SHADOW_QUEUE => shadow_queue: usize = "4", |v| values::whole_number(v, "a whole number of requests >= 0, e.g. 4");
    /// integer >= 0: recent input rows kept (a byte per feature each) to compare with the model's training distribution on `/drift` and in the drift metrics, per group for a model set (each member keeps as many); 0: no drift tracking
    DRIFT_WINDOW => drift_window: usize = "10000", |v| values::whole_number(v, "a whole number of rows >= 0, e.g. 10000");
    /// `mqtt://HOST[:PORT]` (port 1883 by default) or `mqtts://HOST[:PORT]` (TLS, port 8883 by default, the broker's certificate checked against the system's roots and MQTT_CA_FILE): subscribe to sensor readings on this MQTT broker and score them as they arrive (see Streaming); empty: no streaming
    MQTT_URL => mqtt_url: Option<MqttUrl> = "", stream_values::mqtt_url;
    /// PEM file of CA certificates trusted for an `mqtts://` broker besides the system's roots (SSL_CERT_FILE, SSL_CERT_DIR or the system store), e.g. a plant's private CA; empty: the system's roots only
    MQTT_CA_FILE => mqtt_ca_file: Option<PathBuf> = "", stream_values::optional_path;
    /// comma-separated topic filters subscribed to with QoS 1; a `+` level is the source id unless a reading names its `source`
    MQTT_TOPICS => mqtt_topics: Vec<String> = "sensors/+/readings", stream_values::topic_filters;
    /// the id the broker keeps this replica's session under (clean_session=false, so readings published while it reconnects wait for it); empty: `model-serving-` and the host name
    MQTT_CLIENT_ID => mqtt_client_id: String = "", stream_values::client_id;
    /// user name for the broker; empty: none
    MQTT_USERNAME => mqtt_username: Option<String> = "", stream_values::optional_text;
    /// password for the broker (never logged); empty: none
    MQTT_PASSWORD => mqtt_password: Option<Secret> = "", stream_values::secret;
    /// bytes: a larger message is refused (counted and reported on MQTT_ERROR_TOPIC)
    MQTT_MAX_MESSAGE_BYTES => mqtt_max_message_bytes: usize = "65536",
        |v| values::at_least_one(v, "a number of bytes >= 1, e.g. 65536");
    /// topic alert events are published to (QoS 1, not retained); `{source}` is the source id
    MQTT_ALERT_TOPIC => mqtt_alert_topic: String = "anomalies/{source}", stream_values::topic_template;
    /// topic every streaming score is published to (QoS 0); `{source}` is the source id; empty: scores are not published
    MQTT_SCORE_TOPIC => mqtt_score_topic: Option<String> = "", stream_values::optional_topic_template;
    /// topic a bad message's error is published to (QoS 0); `{source}` is the source id (`unknown` when the topic names none)
    MQTT_ERROR_TOPIC => mqtt_error_topic: String = "errors/{source}", stream_values::topic_template;
    /// integer >= 1: consecutive normal readings that close an open alert
    MQTT_ALERT_CLEAR => mqtt_alert_clear: usize = "10", |v| values::at_least_one(v, "a whole number of readings >= 1, e.g. 10");
    /// seconds a source may stay silent before its window is forgotten
    MQTT_SOURCE_TTL => mqtt_source_ttl: Duration = "3600", |v| values::seconds(v, false);
    /// integer >= 1: sources kept at once; readings of further sources are dropped (logged once a minute) until one is forgotten
    MQTT_MAX_SOURCES => mqtt_max_sources: usize = "10000", |v| values::at_least_one(v, "a whole number of sources >= 1, e.g. 10000");
    /// `INDEX/COUNT`: this replica scores only the sources whose id hashes to INDEX of COUNT (in a StatefulSet, INDEX from the pod's ordinal); every replica still receives every message of a wildcard subscription, so publishers that can route should use per-partition topics (MQTT_TOPICS=sensors/INDEX/+/readings)
    MQTT_PARTITION => mqtt_partition: Partition = "0/1", stream_values::partition;
    /// seconds readiness answers 503 after SIGTERM while requests are still served, before the listener closes
    SHUTDOWN_DRAIN => shutdown_drain: Duration = "5", |v| values::seconds(v, true);
    /// seconds shutdown may take after the drain; connections still open then are dropped
    SHUTDOWN_TIMEOUT => shutdown_timeout: Duration = "25", |v| values::seconds(v, false);
}

/// The file of settings, read before the environment.
const CONFIG_FILE: Setting = Setting {
    variable: "CONFIG_FILE",
    format: "TOML, YAML or JSON file of these settings (keys as the variable names, in any case)",
    default: "",
};

/// What the AWS variables ([`AwsEnv::VARIABLES`], read by `object_storage`) are for here.
const AWS_FORMAT: &str = "S3 for MODEL_URI and MODEL_REGISTRY (path-style, SigV4): AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL, \
    AWS_REGION over AWS_DEFAULT_REGION";

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A registry model: a pinned version, or an alias that is followed.
    Registry {
        root: RegistryRoot,
        name: String,
        pick: RegistryPick,
    },
    Path(PathBuf),
    /// `s3://bucket/prefix/`: the published model directory's two files under `prefix`, with
    /// the endpoint, region and keys resolved from the AWS variables by `object_storage`.
    S3(Box<S3Options>),
}

/// Which version of a registry model: the one an alias names (followed), or a pinned one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryPick {
    Alias(String),
    Version(String),
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Registry { root, name, pick: RegistryPick::Alias(alias) } => {
                write!(f, "{root} {name}@{alias}")
            }
            ModelSource::Registry { root, name, pick: RegistryPick::Version(v) } => write!(f, "{root} {name}:{v}"),
            ModelSource::Path(p) => write!(f, "{}", p.display()),
            ModelSource::S3(o) if o.prefix.is_empty() => write!(f, "s3://{}/", o.bucket),
            ModelSource::S3(o) => write!(f, "s3://{}/{}/", o.bucket, o.prefix),
        }
    }
}

impl Default for Config {
    /// The built-in defaults (a test checks that each passes its own check).
    fn default() -> Self {
        match Settings::default().check(&AwsEnv::default()) {
            Ok(config) => config,
            Err(e) => panic!("a built-in default is invalid: {e}"),
        }
    }
}

/// Every variable the service reads: the settings, CONFIG_FILE and the AWS variables.
pub fn variables() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|s| s.variable).chain([CONFIG_FILE.variable]).chain(AwsEnv::VARIABLES)
}

impl Config {
    /// Reads `.env` (if present), `CONFIG_FILE` (if set) and the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        // A missing .env is normal; a malformed one is reported by the variables it leaves unset.
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| variables().any(|known| k.eq_ignore_ascii_case(known))).collect();
        Config::from_vars(&vars)
    }

    /// Builds the configuration from explicit variables (tests, embedding) plus the file that
    /// `CONFIG_FILE` among them names.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let read = read::read::<Settings>(vars, &variables().collect::<Vec<_>>())?;
        let aws = AwsEnv::from_lookup(|name| read.get(name));
        read.settings.check(&aws)
    }

    /// The model to load: MODEL_REGISTRY (+ MODEL_NAME and MODEL_VERSION or MODEL_ALIAS) when
    /// set, else MODEL_URI when set, else MODEL_PATH.
    pub fn model(&self) -> ModelSource {
        if let Some(root) = &self.model_registry {
            let pick = match &self.model_version {
                Some(version) => RegistryPick::Version(version.clone()),
                None => RegistryPick::Alias(self.model_alias.clone()),
            };
            return ModelSource::Registry { root: root.clone(), name: self.model_name.clone(), pick };
        }
        match &self.model_uri {
            Some(options) => ModelSource::S3(options.clone()),
            None => ModelSource::Path(self.model_path.clone()),
        }
    }

    /// `tracing` filter directive for LOG_LEVEL: the level for this service, warnings from
    /// dependencies (hyper, aws) so a debug level stays readable.
    pub fn log_filter(&self) -> String {
        format!("warn,model_serving={0},model_core={0},tower_http={0}", self.log_level)
    }
}

/// The settings table of docs/serving.md, rendered from the declarations.
pub fn settings_table() -> String {
    let mut out = String::from("| variable | format | default |\n|---|---|---|\n");
    for s in SETTINGS.iter().chain([&CONFIG_FILE]) {
        let default = if s.default.is_empty() { "none".to_string() } else { format!("`{}`", s.default) };
        out.push_str(&format!("| {} | {} | {default} |\n", s.variable, s.format.trim()));
    }
    let aws = AwsEnv::VARIABLES.join(", ");
    out.push_str(&format!("| {aws} | {AWS_FORMAT} | AWS, `{DEFAULT_REGION}` |\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_match_the_design_table() {
        let c = Config::from_vars(&HashMap::new()).unwrap();
        assert_eq!(c.port, 9090);
        assert_eq!(c.service_url, "http://localhost:9090");
        assert!(c.engine_urls.is_empty());
        assert_eq!(c.engine_announce_retries, 5);
        assert_eq!(c.engine_ping_interval, Duration::from_secs(20));
        assert_eq!(c.max_tasks, 50);
        assert_eq!(c.max_body_bytes, 64 << 20);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.model(), ModelSource::Path("model_creation/model".into()));
    }

    #[test]
    fn variables_override_and_model_uri_wins_over_model_path() {
        let c = Config::from_vars(&vars(&[
            ("SERVICE_PORT", "8081"),
            ("ENGINE_URLS", r#"["http://core-engine-service:8080/"]"#),
            ("MODEL_PATH", "/models/a"),
            ("MODEL_URI", "s3://models/ae/1"),
            ("ENVIRONMENT", "production"),
            ("REQUEST_TIMEOUT", "2.5"),
        ]))
        .unwrap();
        assert_eq!(c.port, 8081);
        assert_eq!(c.engine_urls, vec!["http://core-engine-service:8080".to_string()]);
        assert_eq!(c.model().to_string(), "s3://models/ae/1/");
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
    }

    #[test]
    fn bad_values_name_the_variable_and_what_was_expected() {
        for (name, value, expected) in [
            ("SERVICE_PORT", "90a", "port number"),
            ("ENGINE_URLS", "http://x", "JSON list"),
            ("ENGINE_URLS", r#"["ftp://x"]"#, "http://"),
            ("ENGINE_PING_INTERVAL", "60", "below 50"),
            ("MAX_TASKS", "0", ">= 1"),
            ("LOG_LEVEL", "loud", "trace"),
            ("ENVIRONMENT", "staging", "development or production"),
            ("MODEL_URI", "http://bucket/x", "s3://"),
            ("MAX_BODY_BYTES", "64MB", "bytes"),
            ("REQUEST_TIMEOUT", "-1", "seconds"),
            ("MAX_CONNECTIONS", "0", "auto"),
            ("MEMORY_BUDGET", "512Mi", "bytes"),
            ("MEMORY_BUDGET", "0", "unlimited"),
            ("SHUTDOWN_TIMEOUT", "0", "seconds > 0"),
        ] {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name}=")), "{err}");
            assert!(err.contains(expected), "{name}: {err}");
        }
    }

    #[test]
    fn a_config_file_is_read_and_the_environment_wins_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serving.toml");
        std::fs::write(&file, "service_port = 7000\nmax_tasks = 7\nengine_urls = [\"http://e:8080\"]\n").unwrap();
        let path = file.display().to_string();
        let c = Config::from_vars(&vars(&[("CONFIG_FILE", &path), ("MAX_TASKS", "9")])).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.max_tasks, 9);
        assert_eq!(c.engine_urls, vec!["http://e:8080".to_string()]);
        let err = Config::from_vars(&vars(&[("CONFIG_FILE", "/nonexistent.toml")])).unwrap_err().to_string();
        assert!(err.contains("CONFIG_FILE") && err.contains("no such file"), "{err}");
    }

    #[test]
    fn file_keys_match_in_any_case_and_numbers_and_lists_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("serving.yaml");
        std::fs::write(&file, "SERVICE_PORT: 7001\nRequest_Timeout: 2.5\nENGINE_URLS: [\"http://e:8080/\"]\n").unwrap();
        let c = Config::from_vars(&vars(&[("config_file", &file.display().to_string())])).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.request_timeout, Duration::from_millis(2500));
        assert_eq!(c.engine_urls, vec!["http://e:8080".to_string()]);

        std::fs::write(&file, "max_tasks: {nested: 1}\n").unwrap();
        let err = Config::from_vars(&vars(&[("CONFIG_FILE", &file.display().to_string())])).unwrap_err();
        assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
    }

    #[test]
    fn every_default_passes_its_own_check_and_every_setting_is_a_variable() {
        for s in SETTINGS {
            let single = vars(&[(s.variable, s.default)]);
            Config::from_vars(&single).unwrap_or_else(|e| panic!("{}: {e}", s.variable));
            assert!(variables().any(|v| v == s.variable));
        }
        assert!(variables().any(|v| v == "CONFIG_FILE"));
        assert!(variables().any(|v| v == "AWS_ENDPOINT_URL_S3"));
        let table = settings_table();
        assert!(table.contains("| SERVICE_PORT | port | `9090` |"), "{table}");
        assert!(
            table.contains("| MODEL_URI | `s3://bucket/prefix/` of a published model or model set (`model-creation publish`; wins over MODEL_PATH) | none |"),
            "{table}"
        );
    }

    #[test]
    fn max_connections_auto_keeps_a_quarter_of_the_open_files_for_the_rest() {
        assert_eq!(values::connections_for_open_files(256), 192);
        assert_eq!(values::connections_for_open_files(1024), 768);
        assert_eq!(values::connections_for_open_files(100), 50, "at most half is kept back");
        assert_eq!(values::connections_for_open_files(1), 1);
        assert_eq!(values::connections_for_open_files(u64::MAX), 786_432, "unlimited counts as 2^20");
        let c = Config::from_vars(&vars(&[("MAX_CONNECTIONS", "Auto"), ("SHUTDOWN_DRAIN", "0")])).unwrap();
        assert!(c.max_connections >= 1);
        assert_eq!(c.shutdown_drain, Duration::ZERO);
        assert_eq!(Config::from_vars(&vars(&[("MAX_CONNECTIONS", "10")])).unwrap().max_connections, 10);
    }

    #[test]
    fn memory_budget_is_bytes_auto_or_unlimited() {
        assert_eq!(values::budget_for_limit(512 << 20), 384 << 20);
        let budget = |text: &str| Config::from_vars(&vars(&[("MEMORY_BUDGET", text)])).unwrap().memory_budget;
        assert_eq!(budget("1000000"), Some(1_000_000));
        assert_eq!(budget("Unlimited"), None);
        assert_eq!(budget("auto"), Config::default().memory_budget);
    }

    #[test]
    fn debug_of_the_configuration_never_shows_the_secret_key() {
        let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY";
        let c = Config::from_vars(&vars(&[
            ("MODEL_URI", "s3://models/ae/1/"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", "session-token-value"),
        ]))
        .unwrap();
        let ModelSource::S3(options) = c.model() else { panic!("MODEL_URI gives an S3 source") };
        assert_eq!(options.secret_access_key.as_deref(), Some(secret), "the secret is there to be hidden");
        for shown in [format!("{c:?}"), format!("{c:#?}"), format!("{:?}", c.model())] {
            assert!(!shown.contains(secret) && !shown.contains("session-token-value"), "{shown}");
            assert!(shown.contains("AKIAEXAMPLE"), "the access key id is not a secret: {shown}");
        }
    }
}
