//! Service configuration: built-in defaults, then an optional file named by `CONFIG_FILE`
//! (TOML, YAML or JSON, keys as the variable names in any case), then environment variables
//! (a `.env` file in the working directory is read first, as the Python service did).
//!
//! Every value is checked once, at start-up: a bad one stops the service with a message naming
//! the variable, what it holds and what was expected.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use object_storage::{AwsEnv, S3Options, S3Settings, StorageError};

/// The variables the service reads, as the Python service named them where it had them.
pub const VARIABLES: [&str; 23] = [
    "SERVICE_HOST",
    "SERVICE_PORT",
    "SERVICE_URL",
    "ENGINE_URLS",
    "ENGINE_ANNOUNCE_RETRIES",
    "ENGINE_ANNOUNCE_RETRY_DELAY",
    "ENGINE_PING_INTERVAL",
    "MAX_TASKS",
    "LOG_LEVEL",
    "ENVIRONMENT",
    "MODEL_PATH",
    "MODEL_URI",
    "MAX_BODY_BYTES",
    "REQUEST_TIMEOUT",
    "CONFIG_FILE",
    "TASK_RETENTION",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
];

/// The engine marks a service `sleeping` when its last ping is older than this.
pub const ENGINE_PING_DEADLINE: Duration = Duration::from_secs(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Path(PathBuf),
    /// `s3://bucket/prefix/`: the published model directory's two files under `prefix`, with
    /// the endpoint, region and keys resolved from the AWS variables by `object_storage`.
    S3(Box<S3Options>),
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSource::Path(p) => write!(f, "{}", p.display()),
            ModelSource::S3(o) if o.prefix.is_empty() => write!(f, "s3://{}/", o.bucket),
            ModelSource::S3(o) => write!(f, "s3://{}/{}/", o.bucket, o.prefix),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub service_url: String,
    pub engine_urls: Vec<String>,
    pub engine_announce_retries: u32,
    pub engine_announce_retry_delay: Duration,
    pub engine_ping_interval: Duration,
    pub max_tasks: usize,
    pub log_level: String,
    pub environment: Environment,
    pub model: ModelSource,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// How long a finished engine task's status stays queryable.
    pub task_retention: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: IpAddr::from([0, 0, 0, 0]),
            port: 9090,
            service_url: "http://localhost:9090".into(),
            engine_urls: Vec::new(),
            engine_announce_retries: 5,
            engine_announce_retry_delay: Duration::from_secs(3),
            engine_ping_interval: Duration::from_secs(20),
            max_tasks: 50,
            log_level: "info".into(),
            environment: Environment::Development,
            model: ModelSource::Path(PathBuf::from("model_creation/model")),
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            task_retention: Duration::from_secs(3600),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}={value:?}: expected {expected}")]
    Invalid { variable: &'static str, value: String, expected: String },
    #[error("CONFIG_FILE={path:?}: {message}")]
    File { path: String, message: String },
}

impl Config {
    /// Reads `.env` (if present), `CONFIG_FILE` (if set) and the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        // A missing .env is normal; a malformed one is reported by the variables it leaves unset.
        let _ = dotenvy::dotenv();
        let vars: HashMap<String, String> =
            std::env::vars().filter(|(k, _)| VARIABLES.contains(&k.to_ascii_uppercase().as_str())).collect();
        Config::from_vars(&vars)
    }

    /// Builds the configuration from explicit variables (tests, embedding) plus the file that
    /// `CONFIG_FILE` among them names.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = vars.iter().find(|(k, _)| k.eq_ignore_ascii_case("CONFIG_FILE")).map(|(_, v)| v.clone()) {
            if !std::path::Path::new(&path).is_file() {
                return Err(ConfigError::File { path, message: "no such file".into() });
            }
            builder = builder.add_source(config::File::with_name(&path).required(true));
        }
        let env: config::Map<String, String> = vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        builder = builder.add_source(config::Environment::default().source(Some(env)).ignore_empty(true));
        let file_path = || vars.get("CONFIG_FILE").cloned().unwrap_or_default();
        let raw = builder.build().map_err(|e| ConfigError::File { path: file_path(), message: e.to_string() })?;
        let get = |name: &'static str| -> Option<String> {
            let key = name.to_ascii_lowercase();
            if let Ok(s) = raw.get_string(&key) {
                return Some(s);
            }
            // A list in a TOML/YAML file (ENGINE_URLS) comes back as an array, not a string.
            raw.get::<Vec<String>>(&key).ok().and_then(|v| serde_json::to_string(&v).ok())
        };
        Config::parse(get)
    }

    fn parse(get: impl Fn(&'static str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        if let Some(v) = get("SERVICE_HOST") {
            c.host = v.trim().parse().map_err(|_| invalid("SERVICE_HOST", &v, "an IP address to listen on"))?;
        }
        if let Some(v) = get("SERVICE_PORT") {
            c.port = v.trim().parse().map_err(|_| invalid("SERVICE_PORT", &v, "a port number from 0 to 65535"))?;
        }
        if let Some(v) = get("SERVICE_URL") {
            c.service_url = http_url("SERVICE_URL", &v)?;
        }
        if let Some(v) = get("ENGINE_URLS") {
            let expected = "a JSON list of http(s) URLs, e.g. [\"http://core-engine-service:8080\"]";
            let urls: Vec<String> = serde_json::from_str(&v).map_err(|_| invalid("ENGINE_URLS", &v, expected))?;
            c.engine_urls = urls
                .iter()
                .map(|u| http_url("ENGINE_URLS", u).map(|u| u.trim_end_matches('/').to_string()))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("ENGINE_ANNOUNCE_RETRIES") {
            c.engine_announce_retries =
                v.trim().parse().map_err(|_| invalid("ENGINE_ANNOUNCE_RETRIES", &v, "a whole number >= 0"))?;
        }
        if let Some(v) = get("ENGINE_ANNOUNCE_RETRY_DELAY") {
            c.engine_announce_retry_delay = seconds("ENGINE_ANNOUNCE_RETRY_DELAY", &v, true)?;
        }
        if let Some(v) = get("ENGINE_PING_INTERVAL") {
            let d = seconds("ENGINE_PING_INTERVAL", &v, false)?;
            if d >= ENGINE_PING_DEADLINE {
                return Err(invalid(
                    "ENGINE_PING_INTERVAL",
                    &v,
                    "seconds below 50 (the engine marks a service sleeping after 50 s without a ping)",
                ));
            }
            c.engine_ping_interval = d;
        }
        if let Some(v) = get("MAX_TASKS") {
            c.max_tasks = match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid("MAX_TASKS", &v, "a whole number >= 1 (queued engine tasks)")),
            };
        }
        if let Some(v) = get("LOG_LEVEL") {
            let level = v.trim().to_ascii_lowercase();
            if !["trace", "debug", "info", "warn", "warning", "error"].contains(&level.as_str()) {
                return Err(invalid("LOG_LEVEL", &v, "one of trace, debug, info, warn, error"));
            }
            c.log_level = if level == "warning" { "warn".into() } else { level };
        }
        if let Some(v) = get("ENVIRONMENT") {
            c.environment = match v.trim().to_ascii_lowercase().as_str() {
                "development" => Environment::Development,
                "production" => Environment::Production,
                _ => return Err(invalid("ENVIRONMENT", &v, "development or production")),
            };
        }
        if let Some(v) = get("MODEL_PATH") {
            if v.trim().is_empty() {
                return Err(invalid("MODEL_PATH", &v, "a model directory written by `model-creation train`"));
            }
            c.model = ModelSource::Path(PathBuf::from(v.trim()));
        }
        if let Some(v) = get("MODEL_URI") {
            let aws = AwsEnv::from_lookup(|name| VARIABLES.iter().find(|known| **known == name).and_then(|k| get(k)));
            c.model = model_uri(&v, &aws)?;
        }
        if let Some(v) = get("MAX_BODY_BYTES") {
            c.max_body_bytes = match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid("MAX_BODY_BYTES", &v, "a number of bytes >= 1, e.g. 67108864")),
            };
        }
        if let Some(v) = get("REQUEST_TIMEOUT") {
            c.request_timeout = seconds("REQUEST_TIMEOUT", &v, false)?;
        }
        if let Some(v) = get("TASK_RETENTION") {
            c.task_retention = seconds("TASK_RETENTION", &v, true)?;
        }
        Ok(c)
    }

    /// `tracing` filter directive for LOG_LEVEL: the level for this service, warnings from
    /// dependencies (hyper, aws) so a debug level stays readable.
    pub fn log_filter(&self) -> String {
        format!("warn,model_serving={0},model_core={0},tower_http={0}", self.log_level)
    }
}

fn invalid(variable: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid { variable, value: value.to_string(), expected: expected.to_string() }
}

fn seconds(variable: &'static str, value: &str, zero_ok: bool) -> Result<Duration, ConfigError> {
    let expected = if zero_ok { "a number of seconds >= 0, e.g. 3 or 0.5" } else { "a number of seconds > 0, e.g. 30" };
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(invalid(variable, value, expected)),
    }
}

fn http_url(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    match reqwest::Url::parse(v) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => Ok(v.to_string()),
        _ => Err(invalid(variable, value, "an absolute http:// or https:// URL")),
    }
}

/// MODEL_URI resolved by `object_storage`, the one owner of S3 settings, so the service reaches
/// the same endpoint with the same keys as `model-creation publish` given the same variables.
pub fn model_uri(value: &str, aws: &AwsEnv) -> Result<ModelSource, ConfigError> {
    let expected = "s3://bucket/prefix/ naming a model published by `model-creation publish`";
    match S3Options::resolve(value.trim(), &S3Settings::default(), aws) {
        Ok(options) => Ok(ModelSource::S3(Box::new(options))),
        Err(StorageError::InvalidSetting { setting, value, expected }) => {
            Err(ConfigError::Invalid { variable: setting, value, expected: expected.to_string() })
        }
        Err(e) => Err(invalid("MODEL_URI", value, &format!("{expected} ({e})"))),
    }
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
        assert_eq!(c.model, ModelSource::Path("model_creation/model".into()));
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
        assert_eq!(c.model.to_string(), "s3://models/ae/1/");
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
}
