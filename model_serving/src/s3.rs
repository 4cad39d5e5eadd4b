//! S3 access for engine tasks, path-style with SigV4, with the credentials each task message
//! carries. (MODEL_URI goes through `object_storage`; tasks need what it does not offer: a size
//! cap checked before download, content types on upload, and messages for the engine's user.)
//!
//! Errors say which object, where, and what S3 answered, so the person reading a failed task
//! or a start-up error knows whether to fix a key, a bucket, credentials or the endpoint.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

/// Where an S3-compatible server is and how to sign for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Endpoint {
    /// `http(s)://host:port`; `None` means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl S3Endpoint {
    pub fn client(&self) -> Client {
        let credentials = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "model-serving",
        );
        // Short connect timeout: an engine task against a dead S3 should fail in seconds, not hang.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(60))
            .build();
        let mut builder = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .timeout_config(timeouts)
            // Plain Content-Length uploads, which every S3-compatible server understands.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Client::from_conf(builder.build())
    }

    fn describe(&self) -> &str {
        self.endpoint.as_deref().unwrap_or("AWS S3")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("s3://{bucket}/{key} does not exist on {endpoint} ({code})")]
    NotFound { endpoint: String, bucket: String, key: String, code: String },
    #[error("s3://{bucket}/{key} is {size} bytes, over the limit of {limit} bytes (MAX_BODY_BYTES)")]
    TooLarge { bucket: String, key: String, size: u64, limit: usize },
    #[error(
        "{endpoint} refused the credentials for s3://{bucket}/{key} ({code}: {message}); check the access key, secret and region"
    )]
    Denied { endpoint: String, bucket: String, key: String, code: String, message: String },
    #[error("{action} s3://{bucket}/{key} on {endpoint} failed: {detail}")]
    Other { action: &'static str, endpoint: String, bucket: String, key: String, detail: String },
}

const DENIED_CODES: [&str; 5] =
    ["SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "AuthorizationHeaderMalformed", "InvalidToken"];

fn classify<E>(e: SdkError<E>, ep: &S3Endpoint, action: &'static str, bucket: &str, key: &str) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or("").to_string();
    let endpoint = ep.describe().to_string();
    let (bucket, key) = (bucket.to_string(), key.to_string());
    if code == "NoSuchKey" || code == "NoSuchBucket" || code == "NotFound" {
        return S3Error::NotFound { endpoint, bucket, key, code };
    }
    if DENIED_CODES.contains(&code.as_str()) {
        let message = e.message().unwrap_or("").to_string();
        return S3Error::Denied { endpoint, bucket, key, code, message };
    }
    let detail = match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            format!("the server did not answer ({}); is the S3 endpoint up and reachable?", DisplayErrorContext(&e))
        }
        _ => DisplayErrorContext(&e).to_string(),
    };
    S3Error::Other { action, endpoint, bucket, key, detail }
}

/// Reads one object whole, refusing it before download when it is larger than `limit`.
pub async fn get(client: &Client, ep: &S3Endpoint, bucket: &str, key: &str, limit: usize) -> Result<Bytes, S3Error> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| classify(e, ep, "reading", bucket, key))?;
    let size = out.content_length().and_then(|n| u64::try_from(n).ok());
    if let Some(size) = size.filter(|s| *s > limit as u64) {
        return Err(S3Error::TooLarge { bucket: bucket.into(), key: key.into(), size, limit });
    }
    let data = out.body.collect().await.map_err(|e| S3Error::Other {
        action: "reading",
        endpoint: ep.describe().to_string(),
        bucket: bucket.into(),
        key: key.into(),
        detail: e.to_string(),
    })?;
    Ok(data.into_bytes())
}

pub async fn put(
    client: &Client,
    ep: &S3Endpoint,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> Result<(), S3Error> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| classify(e, ep, "writing", bucket, key))?;
    Ok(())
}
