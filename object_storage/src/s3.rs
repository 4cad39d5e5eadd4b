//! S3-compatible store through aws-sdk-s3 (path-style addressing for MinIO and friends).
//!
//! Retries happen here and only here: the SDK's own retries are off, and every operation,
//! the download of the body included, is tried up to [`S3Options::max_attempts`] times while
//! it fails transiently (unreachable server, 5xx, throttling, a broken-off body), with doubling
//! waits. Callers (transfers, publish, model loading, engine tasks) do not loop on top.

use std::future::Future;
use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use backon::{ExponentialBuilder, Retryable};
use bytes::{Bytes, BytesMut};

use crate::download::{FileSink, ObjectCheck, Piece, write_pieces};
use crate::fs::blocking;
use crate::settings::S3Options;
use crate::stream_read::PieceReader;
use crate::{Conditional, ObjectInfo, Result, StorageError, check_key};

/// Objects up to this size are received whole and written in one go; larger ones are written
/// by a blocking thread while they arrive.
const WHOLE_OBJECT_MAX: u64 = 1 << 20;
/// Pieces of a large object received and not yet written, at most.
const PIECES_IN_FLIGHT: usize = 8;

/// A bucket prefix on an S3-compatible server.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    described: String,
    backoff: ExponentialBuilder,
}

impl S3Store {
    /// Builds the client. Fails when no credentials are given.
    pub fn new(opts: S3Options) -> Result<Self> {
        let described = match &opts.endpoint_url {
            Some(ep) => format!("s3://{}/{} (endpoint {})", opts.bucket, opts.prefix, crate::redact_urls(ep)),
            None => format!("s3://{}/{}", opts.bucket, opts.prefix),
        };
        let (Some(ak), Some(sk)) = (opts.access_key_id.clone(), opts.secret_access_key.clone()) else {
            return Err(StorageError::MissingCredentials { store: described });
        };
        let creds = Credentials::new(ak, sk, opts.session_token.clone(), None, "object_storage");
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(opts.region.clone()))
            .credentials_provider(creds)
            .force_path_style(!opts.virtual_hosted)
            // This module retries (see the module comment); a second layer would multiply tries.
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().connect_timeout(opts.connect_timeout).build())
            // Plain Content-Length uploads: every S3-compatible server understands them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &opts.endpoint_url {
            conf = conf.endpoint_url(ep);
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(opts.first_retry_delay)
            .with_factor(2.0)
            .with_max_times(opts.max_attempts.max(1) as usize - 1);
        Ok(S3Store {
            client: Client::from_conf(conf.build()),
            bucket: opts.bucket,
            prefix: opts.prefix,
            described,
            backoff,
        })
    }

    /// Runs `op` with the store's retry policy: again after a transient failure, at most
    /// `max_attempts` times in all.
    async fn retrying<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        op.retry(self.backoff).when(StorageError::is_transient).await
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
                message: crate::redact_urls(&DisplayErrorContext(&err).to_string()),
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
            (code, status) => StorageError::S3 {
                store: self.described.clone(),
                op,
                key: key.to_string(),
                message: crate::redact_urls(&DisplayErrorContext(&err).to_string()),
                transient: is_transient_answer(code, status, &err),
            },
        }
    }

    /// A failure while the body arrives: the connection broke, so trying again may help.
    fn stream_err(&self, op: &'static str, key: &str, e: impl std::fmt::Display) -> StorageError {
        StorageError::S3 {
            store: self.described.clone(),
            op,
            key: key.to_string(),
            message: e.to_string(),
            transient: true,
        }
    }

    async fn send_get(&self, key: &str) -> Result<GetObjectOutput> {
        let full = self.full_key(key)?;
        self.client.get_object().bucket(&self.bucket).key(&full).send().await.map_err(|e| self.map_err("GET", key, e))
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Bytes> {
        self.retrying(|| async {
            let out = self.send_get(key).await?;
            let data = out.body.collect().await.map_err(|e| self.stream_err("GET", key, DisplayErrorContext(&e)))?;
            Ok(data.into_bytes())
        })
        .await
    }

    pub(crate) async fn get_if_none_match(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            let sent =
                self.client.get_object().bucket(&self.bucket).key(&full).set_if_none_match(etag.map(str::to_string));
            let out = match sent.send().await {
                Ok(out) => out,
                // The SDK surfaces `304 Not Modified` as an error answer without a body.
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                    return Ok(Conditional::NotModified);
                }
                Err(e) => {
                    return match self.map_err("GET", key, e) {
                        StorageError::NotFound { .. } => Ok(Conditional::Missing),
                        other => Err(other),
                    };
                }
            };
            let etag = out.e_tag().map(str::to_string);
            let data = out.body.collect().await.map_err(|e| self.stream_err("GET", key, DisplayErrorContext(&e)))?;
            Ok(Conditional::Found { bytes: data.into_bytes(), etag })
        })
        .await
    }

    pub(crate) async fn get_limited(&self, key: &str, limit: u64) -> Result<Bytes> {
        self.retrying(|| self.get_limited_once(key, limit)).await
    }

    async fn get_limited_once(&self, key: &str, limit: u64) -> Result<Bytes> {
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
            let chunk = chunk.map_err(|e| self.stream_err("GET", key, DisplayErrorContext(&e)))?;
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large((buf.len() + chunk.len()) as u64));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Downloads into `dest`; each attempt gets a fresh check from `make_check`.
    pub(crate) async fn get_to_file_checked<C: ObjectCheck>(
        &self,
        key: &str,
        dest: &Path,
        make_check: impl Fn() -> C,
    ) -> Result<()> {
        self.retrying(|| self.get_to_file_once(key, dest, make_check())).await
    }

    async fn get_to_file_once<C: ObjectCheck>(&self, key: &str, dest: &Path, check: C) -> Result<()> {
        let out = self.send_get(key).await?;
        let announced = out.content_length().and_then(|n| u64::try_from(n).ok());
        let dest = dest.to_path_buf();
        let (store, owned_key) = (self.described.clone(), key.to_string());
        if announced.is_some_and(|n| n <= WHOLE_OBJECT_MAX) {
            let data = out
                .body
                .collect()
                .await
                .map_err(|e| self.stream_err("GET", key, DisplayErrorContext(&e)))?
                .into_bytes();
            return blocking(move || {
                if let Some(n) = announced.filter(|n| *n != data.len() as u64) {
                    return Err(StorageError::S3 {
                        store,
                        op: "GET",
                        key: owned_key,
                        message: format!("the server announced {n} bytes but sent {}", data.len()),
                        transient: true,
                    });
                }
                let mut sink = FileSink::create(&dest, check)?;
                sink.write(&data)?;
                sink.commit(&store, &owned_key)
            })
            .await;
        }
        // Large objects: a blocking thread writes (and checks) while the network side receives.
        // A few pieces in flight: each may be a mebibyte or more (what the connection delivers at
        // once), and memory must not depend on the object's size (64 held up to 61 MiB).
        let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(PIECES_IN_FLIGHT);
        let dest_name = dest.clone();
        let writer = tokio::task::spawn_blocking(move || write_pieces(rx, &dest, check, announced, &store, &owned_key));
        // (When the writer stops early, on a disk error or a refused check, its result says why.)
        let received = self.send_pieces(out.body, tx, key).await;
        let written = writer.await.map_err(|e| StorageError::io("writing", dest_name, std::io::Error::other(e)))?;
        received?;
        written
    }
    /// Hands a download's pieces to the thread consuming them, then [`Piece::End`]; stops
    /// quietly when the consumer is gone (it is done). The error is the network's.
    async fn send_pieces(&self, mut body: ByteStream, tx: tokio::sync::mpsc::Sender<Piece>, key: &str) -> Result<()> {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.stream_err("GET", key, DisplayErrorContext(&e)))?;
            if tx.send(Piece::Data(chunk)).await.is_err() {
                return Ok(());
            }
        }
        let _ = tx.send(Piece::End).await;
        Ok(())
    }

    /// Runs `read` over the object's bytes as they arrive ([`crate::Store::read_streamed`]),
    /// from the start again (a new GET) when the download breaks off.
    pub(crate) async fn read_streamed<T, F>(&self, key: &str, read: std::sync::Arc<F>) -> Result<T>
    where
        F: Fn(&mut dyn std::io::BufRead) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.retrying(|| self.read_streamed_once(key, std::sync::Arc::clone(&read))).await
    }

    async fn read_streamed_once<T, F>(&self, key: &str, read: std::sync::Arc<F>) -> Result<T>
    where
        F: Fn(&mut dyn std::io::BufRead) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let out = self.send_get(key).await?;
        let announced = out.content_length().and_then(|n| u64::try_from(n).ok());
        let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(PIECES_IN_FLIGHT);
        let reader = tokio::task::spawn_blocking(move || {
            let mut pieces = PieceReader::new(rx, announced);
            let value = read(&mut pieces);
            (value, pieces.broken())
        });
        // (A reader done early, needing only part of the object or stopped on an error of its
        // own, does not want the rest.)
        let received = self.send_pieces(out.body, tx, key).await;
        let (value, broken) =
            reader.await.map_err(|e| self.stream_err("GET", key, format!("the reader stopped: {e}")))?;
        match broken {
            // What the reader made of a broken download is dropped: the network's error (or the
            // reader's account of the break) decides whether to try again.
            Some(why) => Err(received.err().unwrap_or_else(|| self.stream_err("GET", key, why))),
            None => Ok(value),
        }
    }

    /// Writes `data` under `key`, with a Content-Type when one is given.
    pub(crate) async fn put(&self, key: &str, data: Bytes, content_type: Option<&str>) -> Result<()> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .set_content_type(content_type.map(str::to_string))
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .map_err(|e| self.map_err("PUT", key, e))
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            let body = ByteStream::from_path(src)
                .await
                .map_err(|e| StorageError::io("reading", src, std::io::Error::other(e)))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&full)
                .body(body)
                .send()
                .await
                .map_err(|e| self.map_err("PUT", key, e))
        })
        .await?;
        Ok(())
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            match self.client.head_object().bucket(&self.bucket).key(&full).send().await {
                Ok(_) => Ok(true),
                Err(e) => match self.map_err("HEAD", key, e) {
                    StorageError::NotFound { .. } => Ok(false),
                    other => Err(other),
                },
            }
        })
        .await
    }

    pub(crate) async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            match self.client.head_object().bucket(&self.bucket).key(&full).send().await {
                Ok(out) => Ok(Some(ObjectInfo {
                    key: key.to_string(),
                    etag: out.e_tag().map(str::to_string),
                    size: out.content_length().map_or(0, |n| n.max(0) as u64),
                })),
                Err(e) => match self.map_err("HEAD", key, e) {
                    StorageError::NotFound { .. } => Ok(None),
                    other => Err(other),
                },
            }
        })
        .await
    }

    pub(crate) async fn list_info(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
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
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .retrying(|| async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(&full)
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| self.map_err("LIST", prefix, e))
                })
                .await?;
            for obj in out.contents() {
                if let Some(k) = obj.key() {
                    objects.push(ObjectInfo {
                        key: k[strip.min(k.len())..].to_string(),
                        etag: obj.e_tag().map(str::to_string),
                        size: obj.size().map_or(0, |n| n.max(0) as u64),
                    });
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(objects)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let full = self.full_key(key)?;
        self.retrying(|| async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&full)
                .send()
                .await
                .map_err(|e| self.map_err("DELETE", key, e))
        })
        .await?;
        Ok(())
    }
}

/// Whether an S3 error answer may go away on its own: server errors, throttling, timeouts,
/// and answers that could not be read. A 4xx refusal will be refused again.
fn is_transient_answer<E>(
    code: Option<&str>,
    status: Option<u16>,
    err: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    const THROTTLING: [&str; 6] =
        ["SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed", "InternalError"];
    if code.is_some_and(|c| THROTTLING.contains(&c)) {
        return true;
    }
    match status {
        Some(s) => s >= 500 || s == 429 || s == 408,
        None => matches!(err, SdkError::ResponseError(_)),
    }
}
