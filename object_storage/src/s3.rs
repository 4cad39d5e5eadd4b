//! S3-compatible store through aws-sdk-s3 (path-style addressing for MinIO and friends).

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};

use crate::download::{FileSink, ObjectCheck, Piece, write_pieces};
use crate::{Result, StorageError, check_key};

/// How long to wait for a TCP connection before counting the endpoint as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Objects up to this size are received whole and written in one go; larger ones are written
/// by a blocking thread while they arrive.
const WHOLE_OBJECT_MAX: u64 = 1 << 20;

/// How to reach a bucket. Fields left `None` fall back to the AWS environment variables
/// when [`S3Options::fill_from_env`] is called.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint URL such as `http://127.0.0.1:9000` (MinIO); `None` means AWS.
    pub endpoint_url: Option<String>,
    /// Region; defaults to `us-east-1`.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Virtual-hosted addressing instead of path style (path style is what MinIO needs).
    pub virtual_hosted: bool,
    /// TCP connect timeout; `None` means [`DEFAULT_CONNECT_TIMEOUT`] (5 s), so a dead endpoint
    /// fails in seconds rather than hanging on the operating system's minutes-long default.
    pub connect_timeout: Option<Duration>,
}

impl S3Options {
    /// Parses `s3://bucket[/prefix]`.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| StorageError::InvalidUrl { url: url.to_string() })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::InvalidUrl { url: url.to_string() });
        }
        Ok(S3Options { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string(), ..Default::default() })
    }

    /// Fills unset fields from AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION /
    /// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    pub fn fill_from_env(&mut self) {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if self.endpoint_url.is_none() {
            self.endpoint_url = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        }
        if self.region.is_none() {
            self.region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
        }
        if self.access_key_id.is_none() && self.secret_access_key.is_none() {
            self.access_key_id = env("AWS_ACCESS_KEY_ID");
            self.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
            if self.session_token.is_none() {
                self.session_token = env("AWS_SESSION_TOKEN");
            }
        }
    }
}

/// A bucket prefix on an S3-compatible server.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    described: String,
}

impl S3Store {
    /// Builds the client. Fails when no credentials are given.
    pub fn new(opts: S3Options) -> Result<Self> {
        let described = match &opts.endpoint_url {
            Some(ep) => format!("s3://{}/{} (endpoint {ep})", opts.bucket, opts.prefix),
            None => format!("s3://{}/{}", opts.bucket, opts.prefix),
        };
        let (Some(ak), Some(sk)) = (opts.access_key_id.clone(), opts.secret_access_key.clone()) else {
            return Err(StorageError::MissingCredentials { store: described });
        };
        let creds = Credentials::new(ak, sk, opts.session_token.clone(), None, "object_storage");
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(opts.region.clone().unwrap_or_else(|| "us-east-1".into())))
            .credentials_provider(creds)
            .force_path_style(!opts.virtual_hosted)
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(opts.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
                    .build(),
            )
            // Plain Content-Length uploads: every S3-compatible server understands them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &opts.endpoint_url {
            conf = conf.endpoint_url(ep);
        }
        Ok(S3Store { client: Client::from_conf(conf.build()), bucket: opts.bucket, prefix: opts.prefix, described })
    }

    pub(crate) fn describe(&self) -> String {
        self.described.clone()
    }

    fn full_key(&self, key: &str) -> Result<String> {
        check_key(key)?;
        Ok(if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) })
    }

    fn map_err<E>(
        &self,
        op: &'static str,
        key: &str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
            return StorageError::Unreachable {
                store: self.described.clone(),
                op,
                key: key.to_string(),
                message: DisplayErrorContext(&err).to_string(),
            };
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string);
        match (code.as_deref(), status) {
            (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => {
                StorageError::NotFound { store: self.described.clone(), key: key.to_string() }
            }
            (Some("NoSuchBucket"), _) => StorageError::NoSuchBucket { store: self.described.clone() },
            (Some(c @ ("SignatureDoesNotMatch" | "InvalidAccessKeyId" | "AccessDenied")), _) => {
                StorageError::Credentials { store: self.described.clone(), key: key.to_string(), code: c.to_string() }
            }
            (_, Some(403)) => StorageError::Credentials {
                store: self.described.clone(),
                key: key.to_string(),
                code: "403 Forbidden".into(),
            },
            _ => StorageError::S3 {
                store: self.described.clone(),
                op,
                key: key.to_string(),
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }

    fn stream_err(&self, op: &'static str, key: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError::S3 { store: self.described.clone(), op, key: key.to_string(), message: e.to_string() }
    }

    async fn send_get(&self, key: &str) -> Result<GetObjectOutput> {
        let full = self.full_key(key)?;
        self.client.get_object().bucket(&self.bucket).key(&full).send().await.map_err(|e| self.map_err("GET", key, e))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Bytes> {
        let out = self.send_get(key).await?;
        let data = out.body.collect().await.map_err(|e| self.stream_err("GET", key, e))?;
        Ok(data.into_bytes())
    }

    pub(crate) async fn get_limited(&self, key: &str, limit: u64) -> Result<Bytes> {
        let out = self.send_get(key).await?;
        let too_large =
            |size: u64| StorageError::TooLarge { store: self.described.clone(), key: key.to_string(), size, limit };
        let announced = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = announced.filter(|n| *n > limit) {
            // Dropping the body closes the connection before the bytes are read.
            return Err(too_large(size));
        }
        // A server that sends no length is held to the limit while the bytes arrive.
        let mut buf = BytesMut::with_capacity(announced.unwrap_or(0) as usize);
        let mut body = out.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.stream_err("GET", key, e))?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large((buf.len() + chunk.len()) as u64));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    pub(crate) async fn get_to_file_checked<C: ObjectCheck>(&self, key: &str, dest: &Path, check: C) -> Result<()> {
        let out = self.send_get(key).await?;
        let announced = out.content_length().and_then(|n| u64::try_from(n).ok());
        let dest = dest.to_path_buf();
        let (store, owned_key) = (self.described.clone(), key.to_string());
        if announced.is_some_and(|n| n <= WHOLE_OBJECT_MAX) {
            let data = out.body.collect().await.map_err(|e| self.stream_err("GET", key, e))?.into_bytes();
            return blocking(move || {
                if let Some(n) = announced.filter(|n| *n != data.len() as u64) {
                    return Err(StorageError::S3 {
                        store,
                        op: "GET",
                        key: owned_key,
                        message: format!("the server announced {n} bytes but sent {}", data.len()),
                    });
                }
                let mut sink = FileSink::create(&dest, check)?;
                sink.write(&data)?;
                sink.commit(&store, &owned_key)
            })
            .await;
        }
        // Large objects: a blocking thread writes (and checks) while the network side receives.
        let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(64);
        let writer = tokio::task::spawn_blocking(move || write_pieces(rx, &dest, check, announced, &store, &owned_key));
        let mut body = out.body;
        let received: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| self.stream_err("GET", key, e))?;
                if tx.send(Piece::Data(chunk)).await.is_err() {
                    // The writer stopped (disk error, refused check): its result says why.
                    return Ok(());
                }
            }
            let _ = tx.send(Piece::End).await;
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer.await.map_err(|e| StorageError::io("writing", "", std::io::Error::other(e)))?;
        received?;
        written
    }
    pub(crate) async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        let full = self.full_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.map_err("PUT", key, e))?;
        Ok(())
    }

    pub(crate) async fn put_with_type(&self, key: &str, data: Bytes, content_type: &str) -> Result<()> {
        let full = self.full_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .content_type(content_type)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.map_err("PUT", key, e))?;
        Ok(())
    }

    pub(crate) async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let full = self.full_key(key)?;
        let body =
            ByteStream::from_path(src).await.map_err(|e| StorageError::io("reading", src, std::io::Error::other(e)))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(body)
            .send()
            .await
            .map_err(|e| self.map_err("PUT", key, e))?;
        Ok(())
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(&full).send().await {
            Ok(_) => Ok(true),
            Err(e) => match self.map_err("HEAD", key, e) {
                StorageError::NotFound { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let rel = prefix.trim_matches('/');
        let mut full = match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{rel}", self.prefix),
        };
        if !full.is_empty() {
            full.push('/');
        }
        let strip = if self.prefix.is_empty() { 0 } else { self.prefix.len() + 1 };
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.client.list_objects_v2().bucket(&self.bucket).prefix(&full);
            if let Some(t) = &token {
                req = req.continuation_token(t);
            }
            let out = req.send().await.map_err(|e| self.map_err("LIST", prefix, e))?;
            for obj in out.contents() {
                if let Some(k) = obj.key() {
                    keys.push(k[strip.min(k.len())..].to_string());
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(keys)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let full = self.full_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.map_err("DELETE", key, e))?;
        Ok(())
    }
}

/// Runs file-system work off the async worker threads.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StorageError::io("writing", "", std::io::Error::other(e)))?
}
