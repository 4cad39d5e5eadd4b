//! Checking one setting's text into its typed value. Every failure names the variable, repeats
//! the value and says what was expected: `SERVICE_PORT="90a": expected a port number ...`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use object_storage::{AwsEnv, S3Options, S3Settings, StorageError};

/// Where a model registry lives (MODEL_REGISTRY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryRoot {
    Local(PathBuf),
    /// `s3://bucket/prefix` with the endpoint, region and keys from the AWS variables.
    S3(Box<S3Options>),
}

impl std::fmt::Display for RegistryRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistryRoot::Local(p) => write!(f, "{}", p.display()),
            RegistryRoot::S3(o) if o.prefix.is_empty() => write!(f, "s3://{}", o.bucket),
            RegistryRoot::S3(o) => write!(f, "s3://{}/{}", o.bucket, o.prefix),
        }
    }
}

/// The engine marks a service `sleeping` when its last ping is older than this.
pub const ENGINE_PING_DEADLINE: Duration = Duration::from_secs(50);

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}={value:?}: expected {expected}")]
    Invalid { variable: &'static str, value: String, expected: String },
    #[error("CONFIG_FILE={path:?}: no such file")]
    NoFile { path: String },
    #[error(
        "CONFIG_FILE={path:?}: unknown key {key:?}; {}",
        match suggestion {
            Some(name) => format!("did you mean {name}?"),
            None => format!("the keys are the variable names (in any case): {known}"),
        }
    )]
    UnknownKey { path: String, key: String, suggestion: Option<&'static str>, known: String },
    #[error("CONFIG_FILE={path:?}: cannot be read as TOML, YAML or JSON settings")]
    File {
        path: String,
        #[source]
        source: config::ConfigError,
    },
}

/// One setting's text (the default when it is not set), with what the checks may need.
pub struct Value<'a> {
    pub variable: &'static str,
    pub text: &'a str,
    /// The AWS variables read with the settings, for MODEL_URI.
    pub aws: &'a AwsEnv,
}

impl Value<'_> {
    fn invalid(&self, expected: &str) -> ConfigError {
        invalid(self.variable, self.text, expected)
    }

    pub(super) fn trimmed(&self) -> &str {
        self.text.trim()
    }
}

/// The value is repeated with any URL credentials in it hidden (`http://***@host`): the
/// message goes to a terminal and to logs.
fn invalid(variable: &'static str, value: &str, expected: &str) -> ConfigError {
    ConfigError::Invalid { variable, value: object_storage::redact_url(value), expected: expected.to_string() }
}

pub fn ip_address(v: &Value) -> Result<IpAddr, ConfigError> {
    v.trimmed().parse().map_err(|_| v.invalid("an IP address to listen on"))
}

pub fn port(v: &Value) -> Result<u16, ConfigError> {
    v.trimmed().parse().map_err(|_| v.invalid("a port number from 0 to 65535"))
}

pub fn http_url(v: &Value) -> Result<String, ConfigError> {
    checked_url(v.variable, v.text)
}

fn checked_url(variable: &'static str, value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    match reqwest::Url::parse(v) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => Ok(v.to_string()),
        _ => Err(invalid(variable, value, "an absolute http:// or https:// URL")),
    }
}

/// A JSON list of http(s) URLs, each without its trailing `/`.
pub fn url_list(v: &Value) -> Result<Vec<String>, ConfigError> {
    let expected = "a JSON list of http(s) URLs, e.g. [\"http://core-engine-service:8080\"]";
    let urls: Vec<String> = serde_json::from_str(v.text).map_err(|_| v.invalid(expected))?;
    urls.iter().map(|u| checked_url(v.variable, u).map(|u| u.trim_end_matches('/').to_string())).collect()
}

/// A JSON list of http(s) URLs, each reduced to its origin (`scheme://host:port`), the part
/// the engine-task host rules compare. A path is refused: it would suggest a finer rule than the
/// one applied.
pub fn origin_list(v: &Value) -> Result<Vec<String>, ConfigError> {
    origins(v, "a JSON list of http(s) origins, e.g. [\"http://minio:9000\"] (scheme, host and port; no path)", true)
}

/// A JSON list of URLs without a path, each as its origin; `http_only` also refuses other schemes.
fn origins(v: &Value, expected: &str, http_only: bool) -> Result<Vec<String>, ConfigError> {
    let urls: Vec<String> = serde_json::from_str(v.text).map_err(|_| v.invalid(expected))?;
    urls.iter()
        .map(|u| match reqwest::Url::parse(u.trim()) {
            Ok(url)
                if (!http_only || matches!(url.scheme(), "http" | "https"))
                    && url.host_str().is_some()
                    && url.path() == "/" =>
            {
                Ok(url.origin().ascii_serialization())
            }
            _ => Err(v.invalid(expected)),
        })
        .collect()
}

/// The bearer token that protects synchronous scoring; empty means none.
pub fn api_key(v: &Value) -> Result<Option<ApiKey>, ConfigError> {
    let key = v.trimmed();
    if key.is_empty() {
        return Ok(None);
    }
    // Refused: what a header cannot carry (the check would never pass) and keys short enough
    // to guess.
    if key.len() < 16 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        // Not repeated in the message: it is a secret.
        return Err(ConfigError::Invalid {
            variable: v.variable,
            value: "<redacted>".into(),
            expected: "a token of at least 16 visible ASCII characters (no spaces), e.g. from `openssl rand -hex 32`"
                .into(),
        });
    }
    Ok(Some(ApiKey(key.to_string())))
}

/// API_KEY's value; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Whether `token` is the key, in time that does not depend on where they differ.
    pub fn matches(&self, token: &[u8]) -> bool {
        let key = self.0.as_bytes();
        key.len() == token.len() && key.iter().zip(token).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Which browser origins may call the API: `*` (any, without credentials) or a JSON list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

pub fn cors_origins(v: &Value) -> Result<CorsOrigins, ConfigError> {
    if v.trimmed() == "*" {
        return Ok(CorsOrigins::Any);
    }
    let expected = "* (any origin) or a JSON list of origins, e.g. [\"https://grafana.example.com\"]";
    origins(v, expected, false).map(CorsOrigins::List)
}

pub fn count(v: &Value) -> Result<u32, ConfigError> {
    v.trimmed().parse().map_err(|_| v.invalid("a whole number >= 0"))
}

/// A whole number of at least 1; `expected` says what it counts.
pub fn at_least_one(v: &Value, expected: &str) -> Result<usize, ConfigError> {
    match v.trimmed().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(v.invalid(expected)),
    }
}

/// A whole number, zero included.
pub fn whole_number(v: &Value, expected: &str) -> Result<usize, ConfigError> {
    v.trimmed().parse::<usize>().map_err(|_| v.invalid(expected))
}

/// Seconds, possibly fractional; zero only where `zero_ok`.
pub fn seconds(v: &Value, zero_ok: bool) -> Result<Duration, ConfigError> {
    let expected = if zero_ok { "a number of seconds >= 0, e.g. 3 or 0.5" } else { "a number of seconds > 0, e.g. 30" };
    match v.trimmed().parse::<f64>() {
        Ok(s) if s.is_finite() && (s > 0.0 || (zero_ok && s == 0.0)) && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(v.invalid(expected)),
    }
}

/// MAX_CONNECTIONS: a whole number, or `auto` for [`connections_for_open_files`] of the process's
/// open-file limit.
pub fn max_connections(v: &Value) -> Result<usize, ConfigError> {
    if v.trimmed().eq_ignore_ascii_case("auto") {
        return Ok(connections_for_open_files(open_file_limit()));
    }
    at_least_one(v, "a whole number >= 1 (open client connections), or auto (from the open-file limit)")
}

/// The connections `limit` open files allow: a quarter of them (at least 64, at most half) stay
/// free for what else needs a file descriptor (engine and S3 connections, the model files, the
/// runtime's own), the rest may be client connections. 256 gives 192, 1024 gives 768; an
/// unlimited limit counts as 2^20.
pub fn connections_for_open_files(limit: u64) -> usize {
    let limit = limit.min(1 << 20);
    let reserve = (limit / 4).max(64).min(limit / 2);
    usize::try_from(limit - reserve).unwrap_or(usize::MAX).max(1)
}

/// The soft open-file limit (RLIMIT_NOFILE); 1024, the usual default, where it cannot be read.
#[cfg(target_os = "linux")]
fn open_file_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct it is given, which lives for the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if rc == 0 { limit.rlim_cur } else { 1024 }
}

#[cfg(not(target_os = "linux"))]
fn open_file_limit() -> u64 {
    1024
}

pub fn ping_interval(v: &Value) -> Result<Duration, ConfigError> {
    let d = seconds(v, false)?;
    if d >= ENGINE_PING_DEADLINE {
        return Err(v.invalid("seconds below 50 (the engine marks a service sleeping after 50 s without a ping)"));
    }
    Ok(d)
}

/// A `tracing` level; `warning` (the Python service's spelling) means `warn`.
pub fn log_level(v: &Value) -> Result<String, ConfigError> {
    let level = v.trimmed().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        "warning" => Ok("warn".into()),
        _ => Err(v.invalid("one of trace, debug, info, warn, error")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

pub fn environment(v: &Value) -> Result<Environment, ConfigError> {
    match v.trimmed().to_ascii_lowercase().as_str() {
        "development" => Ok(Environment::Development),
        "production" => Ok(Environment::Production),
        _ => Err(v.invalid("development or production")),
    }
}

pub fn model_dir(v: &Value) -> Result<PathBuf, ConfigError> {
    match v.trimmed() {
        "" => Err(v.invalid("a model directory written by `model-creation train`")),
        dir => Ok(PathBuf::from(dir)),
    }
}

/// MODEL_URI resolved by `object_storage`, the one owner of S3 settings, so the service reaches
/// the same endpoint with the same keys as `model-creation publish` given the same variables.
/// Empty means not set.
pub fn model_uri(v: &Value) -> Result<Option<Box<S3Options>>, ConfigError> {
    if v.trimmed().is_empty() {
        return Ok(None);
    }
    let expected = "s3://bucket/prefix/ naming a model published by `model-creation publish`";
    match S3Options::resolve(v.trimmed(), &S3Settings::default(), v.aws) {
        Ok(options) => Ok(Some(Box::new(options))),
        Err(StorageError::InvalidSetting { setting, value, expected }) => Err(invalid(setting, &value, expected)),
        Err(e) => Err(v.invalid(&format!("{expected} ({e})"))),
    }
}

/// MODEL_REGISTRY: `s3://bucket/prefix` (resolved by `object_storage`, as MODEL_URI) or a local
/// directory; empty means not set.
pub fn model_registry(v: &Value) -> Result<Option<RegistryRoot>, ConfigError> {
    let text = v.trimmed();
    if text.is_empty() {
        return Ok(None);
    }
    if !text.starts_with("s3://") {
        return Ok(Some(RegistryRoot::Local(PathBuf::from(text))));
    }
    let expected = "s3://bucket/prefix or a local directory holding a registry written by `model-creation models`";
    match S3Options::resolve(text, &S3Settings::default(), v.aws) {
        Ok(options) => Ok(Some(RegistryRoot::S3(Box::new(options)))),
        Err(StorageError::InvalidSetting { setting, value, expected }) => Err(invalid(setting, &value, expected)),
        Err(e) => Err(v.invalid(&format!("{expected} ({e})"))),
    }
}

/// A registry model name, alias or version: not empty, without `@`, `:` or `/`.
pub fn registry_name(v: &Value) -> Result<String, ConfigError> {
    match v.trimmed() {
        name if !name.is_empty() && !name.contains(['@', ':', '/']) => Ok(name.to_string()),
        _ => Err(v.invalid("a registry name: not empty, without '@', ':' or '/'")),
    }
}

/// SHADOW_MODEL_URI: a registry alias to shadow-score with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowModel {
    /// The registry model; `None`: MODEL_NAME.
    pub name: Option<String>,
    pub alias: String,
}

/// `NAME@ALIAS` or `@ALIAS`, or empty for no shadow model.
pub fn shadow_model(v: &Value) -> Result<Option<ShadowModel>, ConfigError> {
    let text = v.trimmed();
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = || v.invalid("NAME@ALIAS or @ALIAS (a registry alias in MODEL_REGISTRY), e.g. @challenger");
    let (name, alias) = text.split_once('@').ok_or_else(invalid)?;
    let plain = |s: &str| !s.is_empty() && !s.contains(['@', ':', '/']);
    if !plain(alias) || !(name.is_empty() || plain(name)) {
        return Err(invalid());
    }
    Ok(Some(ShadowModel { name: (!name.is_empty()).then(|| name.to_string()), alias: alias.to_string() }))
}

/// MODEL_VERSION: a pinned registry version, or empty for none.
pub fn optional_registry_name(v: &Value) -> Result<Option<String>, ConfigError> {
    if v.trimmed().is_empty() { Ok(None) } else { registry_name(v).map(Some) }
}

/// MEMORY_BUDGET: bytes large requests may hold at once (`None`: no budget). `auto` is three
/// quarters of the cgroup's memory limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`),
/// leaving the rest for the process itself (about 15 MB), small requests and the allocator's
/// slack; without a cgroup limit there is no budget, as before.
pub fn memory_budget(v: &Value) -> Result<Option<u64>, ConfigError> {
    let text = v.trimmed();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(cgroup_memory_limit().map(budget_for_limit));
    }
    if text.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match text.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(v.invalid("a number of bytes >= 1, auto (from the cgroup memory limit) or unlimited")),
    }
}

/// The budget `auto` derives from a memory limit of `limit` bytes: 75% of it.
pub fn budget_for_limit(limit: u64) -> u64 {
    (limit / 4 * 3).max(1)
}

/// The memory limit of this process's cgroup, if it has one (`max`, or v1's huge "no limit"
/// number, is none).
fn cgroup_memory_limit() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let limit = read("/sys/fs/cgroup/memory.max").or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?;
    limit.trim().parse::<u64>().ok().filter(|&n| n < 1 << 60)
}
