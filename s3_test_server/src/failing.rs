//! An S3 endpoint that is up but fails every request the same way (a 503 `SlowDown`, a 500, a
//! 400 ...), and counts the requests it received: for tests of how often a client tries.
//! A plain HTTP/1.1 server on a real socket, answering each request (body read and discarded)
//! with the S3 error document for the configured status and code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A running failing endpoint.
#[derive(Debug, Clone)]
pub struct FailingS3 {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
}

impl FailingS3 {
    /// Starts answering every request with `status` and the S3 error `code` on the current
    /// runtime. Panics if it cannot listen: tests only.
    pub async fn start(status: u16, code: &'static str) -> FailingS3 {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("failing S3 endpoint: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("failing S3 endpoint: {e}"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = answer_all(socket, status, code, &counter).await;
                });
            }
        });
        FailingS3 { endpoint: format!("http://{addr}"), requests }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Answers requests on one keep-alive connection until the client closes it.
async fn answer_all(
    socket: tokio::net::TcpStream,
    status: u16,
    code: &str,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(socket);
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let head_request = line.starts_with("HEAD ");
        loop {
            line.clear();
            if conn.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        conn.read_exact(&mut body).await?;
        counter.fetch_add(1, Ordering::SeqCst);
        let doc = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>injected failure</Message><RequestId>test</RequestId></Error>"
        );
        let head = format!(
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
            doc.len()
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        if !head_request {
            conn.get_mut().write_all(doc.as_bytes()).await?;
        }
    }
}
