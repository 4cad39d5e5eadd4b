//! Reading a request body: the MAX_BODY_BYTES limit, checked on Content-Length and while the
//! body arrives, and the content codings clients may send (gzip), whose decoded size the same
//! limit bounds so a few kilobytes of "zip bomb" cannot fill the memory.

use std::io::Read;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use flate2::read::MultiGzDecoder;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorCode};
use crate::error_text::chain;

/// Input name used in error messages about a request body.
pub const REQUEST_BODY: &str = "request body";

/// Content codings a body may arrive in, as `Content-Encoding` names them.
pub const SUPPORTED_ENCODINGS: [&str; 2] = ["gzip", "identity"];

/// `Content-Encoding` as the OpenAPI document declares it (the values [`encoding`] accepts).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContentCoding {
    Gzip,
    XGzip,
    Identity,
}

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// The body's coding from `Content-Encoding`; anything but gzip (or x-gzip) and identity is a
/// 415 naming it, before the body is read.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let mut codings = Vec::new();
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
        codings.extend(text.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()));
    }
    codings.retain(|c| c != "identity");
    match codings.as_slice() {
        [] => Ok(Encoding::Identity),
        [c] if c == "gzip" || c == "x-gzip" => Ok(Encoding::Gzip),
        other => Err(ApiError::new(
            ErrorCode::UnsupportedEncoding,
            format!(
                "Content-Encoding {:?} is not supported; send the body uncompressed or gzip-compressed \
                 (Content-Encoding: gzip)",
                other.join(", ")
            ),
        )
        .with_details(json!({"content_encoding": other, "supported": SUPPORTED_ENCODINGS}))),
    }
}

/// Decodes a gzip body (one member or several, as `cat a.gz b.gz` makes), refusing it once the
/// decoded bytes pass `limit`. CPU work: run it off the async threads for large bodies.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Bytes, ApiError> {
    let mut decoded = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    let mut reader = MultiGzDecoder::new(compressed).take(limit as u64 + 1);
    reader.read_to_end(&mut decoded).map_err(|e| {
        ApiError::unparsable(format!("{REQUEST_BODY}: Content-Encoding is gzip but the body is not valid gzip: {e}"))
    })?;
    if decoded.len() > limit {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "The request body decompresses to more than {limit} bytes (MAX_BODY_BYTES); split the data into \
                 smaller requests"
            ),
        )
        .with_details(json!({"limit_bytes": limit, "content_length": compressed.len(), "decoded": true})));
    }
    Ok(Bytes::from(decoded))
}

/// The body's Content-Length, when it has one that reads as a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
}

/// Reads the whole body, refusing it as soon as it is known to exceed `limit`.
///
/// Into one buffer sized from Content-Length: collecting the chunks first and joining them after
/// would hold every large body twice while it arrives.
pub async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit, declared));
    }
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
    let mut body = http_body_util::Limited::new(body, limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e.as_ref());
            while let Some(err) = source {
                if err.is::<http_body_util::LengthLimitError>() {
                    return ApiError::too_large(limit, declared);
                }
                source = err.source();
            }
            ApiError::unparsable(format!(
                "{REQUEST_BODY}: the body could not be read completely: {}",
                chain(e.as_ref())
            ))
        })?;
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

#[cfg(test)]
mod tests {
    use std::io;

    use axum::http::HeaderValue;
    use tokio::io::AsyncReadExt;
    use tokio_test::io::{Builder, Mock};

    use super::*;

    /// A request body that arrives as the mock's reads: one frame per read, then its error.
    fn body(mock: Mock) -> Body {
        Body::from_stream(futures_util::stream::unfold(Some(mock), |mock| async move {
            let mut mock = mock?;
            let mut buf = vec![0; 1024];
            match mock.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(mock)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }))
    }

    fn content_length(n: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        headers
    }

    #[tokio::test]
    async fn a_chunked_body_is_read_whole() {
        let mock = Builder::new().read(b"temperature,pressure\n").read(b"20.1,3.02\n").read(b"20.3,3.01\n").build();
        let bytes = read_body(body(mock), &HeaderMap::new(), 1024).await.unwrap();
        assert_eq!(&bytes[..], b"temperature,pressure\n20.1,3.02\n20.3,3.01\n");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_on_its_length_or_while_it_arrives() {
        // Declared too long: refused before reading (reading would meet the error instead).
        let mock = Builder::new().read_error(io::Error::other("must not be read")).build();
        let e = read_body(body(mock), &content_length(100), 10).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert_eq!(e.details["content_length"], 100);

        // No length: refused as soon as the frames pass the limit.
        let mock = Builder::new().read(b"0123456").read(b"789abc").build();
        let e = read_body(body(mock), &HeaderMap::new(), 10).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert!(e.message.contains("10 bytes (MAX_BODY_BYTES)"), "{}", e.message);

        let mock = Builder::new().read(b"0123456789").build();
        assert_eq!(read_body(body(mock), &HeaderMap::new(), 10).await.unwrap().len(), 10, "the limit itself is fine");
    }

    #[tokio::test]
    async fn a_broken_off_body_is_400_with_what_broke_it() {
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer");
        let mock = Builder::new().read(b"temperature,pressure\n20.1,").read_error(reset).build();
        let e = read_body(body(mock), &content_length(40), 1024).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::UnparsableBody);
        assert!(e.message.contains("could not be read completely"), "{}", e.message);
        assert!(e.message.contains("connection reset by peer"), "the cause is in the message: {}", e.message);
    }

    fn encoded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn gzip_and_identity_are_understood_and_other_codings_named_in_a_415() {
        assert_eq!(encoding(&HeaderMap::new()).unwrap(), Encoding::Identity);
        assert_eq!(encoding(&encoded("identity")).unwrap(), Encoding::Identity);
        assert_eq!(encoding(&encoded("GZIP")).unwrap(), Encoding::Gzip);
        assert_eq!(encoding(&encoded("x-gzip")).unwrap(), Encoding::Gzip);
        for refused in ["br", "deflate", "gzip, gzip", "gzip, br"] {
            let e = encoding(&encoded(refused)).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnsupportedEncoding, "{refused}");
            assert!(e.message.contains(refused.split(", ").last().unwrap()), "{}", e.message);
            assert_eq!(e.details["supported"], json!(["gzip", "identity"]));
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_body_is_decoded_within_the_limit_and_a_bomb_is_413() {
        let csv = b"temperature,pressure\n20.1,3.02\n".repeat(100);
        assert_eq!(&gunzip(&gz(&csv), csv.len()).unwrap()[..], &csv[..], "exactly the limit is fine");
        let mut two = gz(b"a,b\n");
        two.extend(gz(b"1,2\n"));
        assert_eq!(&gunzip(&two, 100).unwrap()[..], b"a,b\n1,2\n", "concatenated members");

        let bomb = gz(&vec![b'0'; 10 << 20]);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        let e = gunzip(&bomb, 1 << 20).unwrap_err();
        assert_eq!(e.code, ErrorCode::PayloadTooLarge);
        assert!(e.message.contains("decompresses to more than 1048576 bytes (MAX_BODY_BYTES)"), "{}", e.message);

        let e = gunzip(b"temperature,pressure\n", 100).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnparsableBody);
        assert!(e.message.contains("not valid gzip"), "{}", e.message);
    }
}
