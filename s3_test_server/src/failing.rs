//! S3 endpoints that fail on purpose, and count the requests they received: for tests of how
//! often a client tries. [`FailingS3`] fails every request the same way (a 503 `SlowDown`, a
//! 500, a 400 ...) with the S3 error document; [`BreakingS3`] answers GETs with an object whose
//! download breaks off half-way the first few times. Plain HTTP/1.1 servers on real sockets.

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
    while let Some(head_request) = read_request(&mut conn).await? {
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
    Ok(())
}

/// Reads one request (its body read and discarded); `Some(is HEAD)`, `None` once the client
/// closed the connection.
async fn read_request(conn: &mut BufReader<tokio::net::TcpStream>) -> std::io::Result<Option<bool>> {
    let mut content_length = 0usize;
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let head_request = line.starts_with("HEAD ");
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(None);
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
    Ok(Some(head_request))
}

/// An S3 endpoint whose every key is the same object, `body`: the first `breaks` requests get a
/// `200 OK` that announces the whole body, send half of it and close the connection (a download
/// broken off), every later one the whole object.
#[derive(Debug, Clone)]
pub struct BreakingS3 {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
}

impl BreakingS3 {
    /// Starts serving on the current runtime. Panics if it cannot listen: tests only.
    pub async fn start(body: Vec<u8>, breaks: usize) -> BreakingS3 {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("breaking S3 endpoint: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("breaking S3 endpoint: {e}"));
        let requests = Arc::new(AtomicUsize::new(0));
        let (counter, body) = (requests.clone(), Arc::new(body));
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (counter, body) = (counter.clone(), body.clone());
                tokio::spawn(async move {
                    let _ = serve_breaking(socket, &body, breaks, &counter).await;
                });
            }
        });
        BreakingS3 { endpoint: format!("http://{addr}"), requests }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve_breaking(
    socket: tokio::net::TcpStream,
    body: &[u8],
    breaks: usize,
    counter: &AtomicUsize,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(socket);
    while let Some(head_request) = read_request(&mut conn).await? {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nETag: \"e\"\r\n\r\n",
            body.len()
        );
        conn.get_mut().write_all(head.as_bytes()).await?;
        if head_request {
            continue;
        }
        if n < breaks {
            conn.get_mut().write_all(&body[..body.len() / 2]).await?;
            conn.get_mut().flush().await?;
            return Ok(());
        }
        conn.get_mut().write_all(body).await?;
    }
    Ok(())
}
