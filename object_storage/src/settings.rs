//! The one place that turns an `s3://bucket/prefix` URL plus settings into [`S3Options`]: the
//! pipeline's remotes, `publish` and the serving service's `MODEL_URI` all resolve here, so the
//! same URL and the same settings reach the same endpoint, region, keys and addressing.
//!
//! The order is DVC's: settings the caller holds explicitly (a remote's `endpointurl`, `region`
//! and keys from `config.local`; an engine task's fields) win over the standard AWS variables,
//! and `AWS_ENDPOINT_URL_S3` wins over `AWS_ENDPOINT_URL`. The variables come in as an
//! [`AwsEnv`], never read behind the caller's back, so tests need not touch the process
//! environment.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{Result, StorageError, redact_url, redact_urls};

/// Region used when nothing names one (what the AWS SDKs and DVC use).
pub const DEFAULT_REGION: &str = "us-east-1";
/// How long to wait for a TCP connection before counting the endpoint as unreachable.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of one S3 operation (the first and the retries) when a transient failure repeats.
const DEFAULT_MAX_ATTEMPTS: u32 = 4;
/// Wait before the first retry; it doubles for each one after.
const DEFAULT_FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);

/// How to reach a bucket, fully resolved: what [`crate::S3Store::new`] connects with.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint URL such as `http://127.0.0.1:9000` (MinIO); `None` means AWS.
    pub endpoint_url: Option<String>,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Virtual-hosted addressing instead of path style (path style is what MinIO needs).
    pub virtual_hosted: bool,
    /// TCP connect timeout, so a dead endpoint fails in seconds rather than hanging on the
    /// operating system's minutes-long default.
    pub connect_timeout: Duration,
    /// Tries of one operation when it keeps failing transiently (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one.
    pub first_retry_delay: Duration,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint_url", &self.endpoint_url.as_deref().map(redact_urls))
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("virtual_hosted", &self.virtual_hosted)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("first_retry_delay", &self.first_retry_delay)
            .finish()
    }
}

/// Settings the caller holds explicitly; each one set here wins over the environment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// DVC's `endpointurl`.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint_url", &self.endpoint_url.as_deref().map(redact_urls))
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .finish()
    }
}

/// The standard AWS variables, as the caller read them. Empty values count as unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AwsEnv {
    vars: BTreeMap<&'static str, String>,
}

impl std::fmt::Debug for AwsEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: BTreeMap<&str, String> = self
            .vars
            .iter()
            .map(|(k, v)| (*k, if is_secret(k) { "<redacted>".to_string() } else { redact_urls(v) }))
            .collect();
        f.debug_tuple("AwsEnv").field(&shown).finish()
    }
}

impl AwsEnv {
    /// Every variable resolution reads, in no particular order.
    pub const VARIABLES: [&'static str; 7] = [
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ];

    /// The variables from the process environment.
    pub fn from_process() -> AwsEnv {
        AwsEnv::from_lookup(|name| std::env::var(name).ok())
    }

    /// The variables from any source (a configuration file, a map in a test).
    pub fn from_lookup(mut lookup: impl FnMut(&str) -> Option<String>) -> AwsEnv {
        let vars = AwsEnv::VARIABLES
            .iter()
            .filter_map(|name| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(|v| (*name, v)))
            .collect();
        AwsEnv { vars }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// The variable (name and value) that gives the endpoint, if any.
    fn endpoint(&self) -> Option<(&'static str, String)> {
        ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].into_iter().find_map(|name| self.get(name).map(|v| (name, v)))
    }
}

impl S3Options {
    /// Resolves `s3://bucket[/prefix]` with `explicit` settings over `env`. Fails on a URL that
    /// is not `s3://` with a valid bucket name, or an endpoint that is not an http(s) URL (named
    /// by where it came from). Missing keys are not an error here: [`crate::S3Store::new`]
    /// refuses to connect without them, naming the store.
    pub fn resolve(url: &str, explicit: &S3Settings, env: &AwsEnv) -> Result<S3Options> {
        let (bucket, prefix) = parse_url(url)?;
        let endpoint = match &explicit.endpoint_url {
            Some(v) => Some(("endpointurl", v.trim().to_string())),
            None => env.endpoint(),
        };
        let endpoint_url = match endpoint {
            Some((setting, value)) => Some(check_endpoint(setting, &value)?),
            None => None,
        };
        let region = explicit
            .region
            .clone()
            .or_else(|| env.get("AWS_REGION"))
            .or_else(|| env.get("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        // Keys come as a pair from one place: an explicit access key never meets the
        // environment's secret.
        let (access_key_id, secret_access_key, session_token) =
            if explicit.access_key_id.is_some() || explicit.secret_access_key.is_some() {
                (explicit.access_key_id.clone(), explicit.secret_access_key.clone(), explicit.session_token.clone())
            } else {
                (
                    env.get("AWS_ACCESS_KEY_ID"),
                    env.get("AWS_SECRET_ACCESS_KEY"),
                    explicit.session_token.clone().or_else(|| env.get("AWS_SESSION_TOKEN")),
                )
            };
        Ok(S3Options {
            bucket,
            prefix,
            endpoint_url,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            virtual_hosted: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            first_retry_delay: DEFAULT_FIRST_RETRY_DELAY,
        })
    }
}

/// What a URL must look like, for error messages.
const URL_EXPECTED: &str = "s3://bucket[/prefix] with a bucket name of 3 to 63 lowercase letters, digits, '.' and '-'";

/// Splits `s3://bucket[/prefix]`; the bucket must follow S3's naming rules.
fn parse_url(url: &str) -> Result<(String, String)> {
    let invalid = || StorageError::InvalidUrl { url: redact_url(url), expected: URL_EXPECTED };
    let rest = url.trim().strip_prefix("s3://").ok_or_else(invalid)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if !valid_bucket(bucket) {
        return Err(invalid());
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// S3's bucket naming rules: 3 to 63 characters of lowercase letters, digits, dots and hyphens,
/// beginning and ending with a letter or digit.
fn valid_bucket(name: &str) -> bool {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
}

fn check_endpoint(setting: &'static str, value: &str) -> Result<String> {
    let host = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace) => {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(StorageError::InvalidSetting {
            setting,
            value: redact_url(value),
            expected: "an absolute http:// or https:// URL",
        }),
    }
}

fn is_secret(name: &str) -> bool {
    name.contains("SECRET") || name.contains("TOKEN")
}

fn redacted(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| "<redacted>")
}
