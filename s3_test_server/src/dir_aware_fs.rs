//! An s3s-fs wrapper that answers as real S3 does where s3s-fs does not: HEAD on a directory
//! key, GetObject with `If-None-Match`, and listings (their ETags, an empty delimiter).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What GetObject answered so far, for tests of how much a client downloads.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    body_bytes: Arc<AtomicU64>,
    not_modified: Arc<AtomicU64>,
}

impl Traffic {
    /// Object bytes GetObject answers carried (their Content-Length).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::SeqCst)
    }

    /// GetObject requests answered `304 Not Modified` (no body).
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::SeqCst)
    }
}

/// s3s-fs answers HEAD on a key that is a directory on its disk (e.g. `store/files/md5`, which
/// dvc probes) with a 500 (real S3 says 404), and ignores `If-None-Match` on GetObject (real S3
/// answers 304 Not Modified without a body when the ETag matches). This wrapper fixes those
/// answers, counts GetObject traffic ([`Traffic`]) and delegates everything else.
pub struct DirAwareFs {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    traffic: Traffic,
}

impl DirAwareFs {
    pub fn new(inner: s3s_fs::FileSystem, root: &Path) -> Self {
        DirAwareFs { inner, root: root.to_path_buf(), traffic: Traffic::default() }
    }

    /// The GetObject counters of this server.
    pub fn traffic(&self) -> Traffic {
        self.traffic.clone()
    }
}

/// Whether `If-None-Match: condition` holds back an object whose ETag is `etag` (RFC 9110: the
/// weak comparison, `*` matches any existing object).
fn none_match_fails(condition: &s3s::dto::ETagCondition, etag: Option<&s3s::dto::ETag>) -> bool {
    match (condition.as_etag(), etag) {
        (None, _) => true,
        (Some(wanted), Some(have)) => wanted.value() == have.value(),
        (Some(_), None) => false,
    }
}

/// Real S3 takes an empty delimiter as none (s3fs, under dvc, sends `delimiter=` on every
/// listing); s3s-fs would cut every key at its first character.
fn no_empty_delimiter(delimiter: &mut Option<s3s::dto::Delimiter>) {
    if delimiter.as_deref() == Some("") {
        *delimiter = None;
    }
}

/// Who listed a bucket, to ask s3s-fs for each listed object's HEAD as them.
struct Asker {
    bucket: String,
    credentials: Option<s3s::auth::Credentials>,
    region: Option<s3s::region::Region>,
}

impl Asker {
    fn of<T>(req: &s3s::S3Request<T>, bucket: String) -> Asker {
        Asker { bucket, credentials: req.credentials.clone(), region: req.region.clone() }
    }
}

impl DirAwareFs {
    /// s3s-fs lists objects without their ETags; real S3 lists them, and dvc hashes an S3
    /// prefix from them. Each is the ETag a HEAD of the object answers (multipart ones included).
    async fn fill_e_tags(&self, asker: &Asker, contents: Option<&mut Vec<s3s::dto::Object>>) -> s3s::S3Result<()> {
        for object in contents.into_iter().flatten() {
            let Some(key) = object.key.clone().filter(|_| object.e_tag.is_none()) else { continue };
            let input = s3s::dto::HeadObjectInput::builder()
                .bucket(asker.bucket.clone())
                .key(key)
                .build()
                .map_err(|e| s3s::s3_error!(InternalError, "{e}"))?;
            let head = s3s::S3Request {
                input,
                method: http::Method::HEAD,
                uri: http::Uri::default(),
                headers: http::HeaderMap::default(),
                extensions: http::Extensions::default(),
                credentials: asker.credentials.clone(),
                region: asker.region.clone(),
                service: None,
                trailing_headers: None,
            };
            object.e_tag = s3s::S3::head_object(&self.inner, head).await?.output.e_tag;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl s3s::S3 for DirAwareFs {
    async fn head_object(
        &self,
        req: s3s::S3Request<s3s::dto::HeadObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::HeadObjectOutput>> {
        if self.root.join(&req.input.bucket).join(&req.input.key).is_dir() {
            return Err(s3s::s3_error!(NoSuchKey));
        }
        self.inner.head_object(req).await
    }

    async fn create_bucket(
        &self,
        req: s3s::S3Request<s3s::dto::CreateBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn copy_object(
        &self,
        req: s3s::S3Request<s3s::dto::CopyObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::CopyObjectOutput>> {
        self.inner.copy_object(req).await
    }

    async fn delete_bucket(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteBucketOutput>> {
        self.inner.delete_bucket(req).await
    }

    async fn delete_object(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::DeleteObjectsOutput>> {
        self.inner.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: s3s::S3Request<s3s::dto::GetBucketLocationInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::GetBucketLocationOutput>> {
        self.inner.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: s3s::S3Request<s3s::dto::GetObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::GetObjectOutput>> {
        let condition = req.input.if_none_match.clone();
        let whole = req.input.range.is_none().then(|| self.root.join(&req.input.bucket).join(&req.input.key));
        let mut resp = self.inner.get_object(req).await?;
        if condition.is_some_and(|c| none_match_fails(&c, resp.output.e_tag.as_ref())) {
            // The opened body is dropped unread: nothing of the object goes over the wire.
            self.traffic.not_modified.fetch_add(1, Ordering::SeqCst);
            return Err(s3s::s3_error!(NotModified));
        }
        // A whole object is sent a mebibyte at a time: s3s-fs's 4 KiB reads, each a blocking
        // task, made the server the bottleneck of every benchmark that downloads (90 MB/s).
        if let Some(path) = whole
            && let Ok(file) = tokio::fs::File::open(&path).await
        {
            let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
            resp.output.body = Some(s3s::dto::StreamingBlob::wrap(body));
        }
        let sent = resp.output.content_length.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        self.traffic.body_bytes.fetch_add(sent, Ordering::SeqCst);
        Ok(resp)
    }

    async fn head_bucket(
        &self,
        req: s3s::S3Request<s3s::dto::HeadBucketInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: s3s::S3Request<s3s::dto::ListBucketsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        mut req: s3s::S3Request<s3s::dto::ListObjectsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectsOutput>> {
        no_empty_delimiter(&mut req.input.delimiter);
        let asker = Asker::of(&req, req.input.bucket.clone());
        let mut resp = self.inner.list_objects(req).await?;
        self.fill_e_tags(&asker, resp.output.contents.as_mut()).await?;
        Ok(resp)
    }

    async fn list_objects_v2(
        &self,
        mut req: s3s::S3Request<s3s::dto::ListObjectsV2Input>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListObjectsV2Output>> {
        no_empty_delimiter(&mut req.input.delimiter);
        let asker = Asker::of(&req, req.input.bucket.clone());
        let mut resp = self.inner.list_objects_v2(req).await?;
        self.fill_e_tags(&asker, resp.output.contents.as_mut()).await?;
        Ok(resp)
    }

    async fn put_object(
        &self,
        req: s3s::S3Request<s3s::dto::PutObjectInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::PutObjectOutput>> {
        self.inner.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: s3s::S3Request<s3s::dto::CreateMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: s3s::S3Request<s3s::dto::UploadPartInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::UploadPartOutput>> {
        self.inner.upload_part(req).await
    }

    async fn list_parts(
        &self,
        req: s3s::S3Request<s3s::dto::ListPartsInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::ListPartsOutput>> {
        self.inner.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: s3s::S3Request<s3s::dto::CompleteMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::CompleteMultipartUploadOutput>> {
        self.inner.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: s3s::S3Request<s3s::dto::AbortMultipartUploadInput>,
    ) -> s3s::S3Result<s3s::S3Response<s3s::dto::AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }
}
