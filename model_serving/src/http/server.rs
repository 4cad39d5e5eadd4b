//! The HTTP/1.1 server around the router: the accept loop with the connection cap
//! (MAX_CONNECTIONS), each connection's header-read and keep-alive timeouts, protocol errors
//! answered in the API's JSON error shape, and the drain on shutdown.
//!
//! axum::serve has none of the timeouts and hyper writes its own empty 400/431 for a request it
//! cannot parse, so connections are served here with hyper's HTTP/1 builder directly:
//!
//! - Timeouts. hyper's `header_read_timeout` restarts after every response, so it would also cut
//!   idle keep-alive connections at the header timeout; the service keeps its own clock instead
//!   ([`Phase`]): a new connection has HEADER_READ_TIMEOUT from the connect to its first request's
//!   complete headers; after a response, KEEP_ALIVE_TIMEOUT for the next request's first byte,
//!   then HEADER_READ_TIMEOUT for the rest of its headers; a response the client stops reading
//!   for KEEP_ALIVE_TIMEOUT ends the connection too. Request bodies and handlers are bounded by
//!   REQUEST_TIMEOUT (the router's middleware).
//! - Protocol errors. hyper answers a head it cannot parse (request line, Content-Length, too
//!   many headers) by writing a bare status line and closing, with no hook to change the body. The
//!   connection's IO ([`Tracked`]) knows when hyper writes without the router having been called,
//!   which only that automatic answer does: it swallows those bytes, and once hyper hands the
//!   socket back ([`http1::Connection::into_parts`]) with the parse error, the JSON answer is
//!   written in their place.
//! - Shutdown. [`Server::shutdown`] closes the listener, asks every connection to finish
//!   (hyper's `graceful_shutdown`: idle ones close now, busy ones after their response) and drops
//!   whatever is still open at the deadline.

use std::convert::Infallible;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;

use super::Lifecycle;
use super::error::{ApiError, ErrorCode};
use crate::metrics::{GaugeGuard, Metrics};

/// How long an error answer written outside hyper (and the read of what the client still sends
/// after it) may take before the socket is closed regardless.
const ANSWER_LINGER: Duration = Duration::from_secs(2);

/// How often "connection limit reached" and accept failures are logged at most.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The connection limits, from HEADER_READ_TIMEOUT, KEEP_ALIVE_TIMEOUT and MAX_CONNECTIONS.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

/// The running accept loop.
pub struct Server {
    /// Set to the deadline when shutdown starts.
    stop: watch::Sender<Option<tokio::time::Instant>>,
    task: JoinHandle<()>,
}

impl Server {
    pub fn start(
        listener: TcpListener,
        router: Router,
        lifecycle: Arc<Lifecycle>,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> Server {
        let (stop, stopped) = watch::channel(None);
        let shared = Arc::new(Shared { service: TowerToHyperService::new(router), lifecycle, metrics, limits });
        let task = tokio::spawn(accept_loop(listener, shared, stopped));
        Server { stop, task }
    }

    /// Closes the listener and lets every connection finish its current request; what is still
    /// open at `deadline` is dropped. Returns once every connection is closed.
    pub async fn shutdown(self, deadline: tokio::time::Instant) -> io::Result<()> {
        let _ = self.stop.send(Some(deadline));
        self.task.await.map_err(io::Error::other)
    }
}

/// What every connection needs.
struct Shared {
    service: TowerToHyperService<Router>,
    lifecycle: Arc<Lifecycle>,
    metrics: Arc<Metrics>,
    limits: Limits,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<Option<tokio::time::Instant>>,
) {
    let max = shared.limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let (finish, finishing) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut last_warning: Option<Instant> = None;
    let mut warn = |message: &dyn Fn()| {
        if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            last_warning = Some(Instant::now());
            message();
        }
    };
    let deadline = 'serve: loop {
        while connections.try_join_next().is_some() {}
        // The slot is taken before accepting: above the cap, connections wait in the kernel's
        // listen backlog (and are served in turn as others close) instead of being accepted and
        // starving the process of file descriptors.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                warn(&|| {
                    tracing::warn!(
                        max_connections = max,
                        "connection limit reached: {max} client connections are open (MAX_CONNECTIONS); new \
                         connections wait in the listen backlog until one closes (idle ones close after \
                         KEEP_ALIVE_TIMEOUT, silent ones after HEADER_READ_TIMEOUT)"
                    )
                });
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break 'serve None,
                    },
                    deadline = stop_requested(&mut stopped) => break 'serve deadline,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors (EMFILE) or kernel memory: wait for some to free
                        // up instead of spinning on the same error.
                        warn(&|| tracing::error!(error = %e, "accepting a connection failed; retrying"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            deadline = stop_requested(&mut stopped) => break 'serve deadline,
        };
        connections.spawn(serve_connection(stream, shared.clone(), finishing.clone(), slot));
    };
    drop(listener);
    let _ = finish.send(true);
    let open = connections.len();
    let all_closed = async { while connections.join_next().await.is_some() {} };
    let closed_in_time = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, all_closed).await.is_ok(),
        None => {
            all_closed.await;
            true
        }
    };
    if !closed_in_time {
        tracing::warn!(
            open = connections.len(),
            "dropping the connections still open at the shutdown deadline (SHUTDOWN_TIMEOUT)"
        );
        connections.shutdown().await;
    } else if open > 0 {
        tracing::info!(connections = open, "every connection finished");
    }
}

/// The shutdown deadline once it is set; None if the [`Server`] was dropped without one.
async fn stop_requested(stopped: &mut watch::Receiver<Option<tokio::time::Instant>>) -> Option<tokio::time::Instant> {
    stopped.wait_for(Option::is_some).await.ok().and_then(|deadline| *deadline)
}

/// Errors of one incoming connection (reset before it was accepted), not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

type Connection = http1::Connection<TokioIo<Tracked>, ConnectionService>;

/// How a connection's driving ended.
enum Outcome {
    /// hyper is done with it, or failed (a parse error among others).
    Done(hyper::Result<()>),
    /// The clock of this phase ran out.
    Expired(Phase),
}

async fn serve_connection(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut finishing: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let _open = GaugeGuard::up(&shared.metrics.connections_open);
    let state = Arc::new(ConnectionState::new());
    let io = TokioIo::new(Tracked { stream, state: state.clone() });
    let service = ConnectionService { shared: shared.clone(), state: state.clone() };
    let mut conn = http1::Builder::new()
        // The clock is this module's (see the module documentation); hyper's would also cut
        // idle keep-alive connections at the header timeout.
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut timer = Box::pin(tokio::time::sleep(shared.limits.keep_alive_timeout));
    let mut graceful = false;
    let outcome = loop {
        tokio::select! {
            outcome = drive(&mut conn, &state, &shared.limits, timer.as_mut()) => break outcome,
            _ = finishing.wait_for(|finish| *finish), if !graceful => {
                graceful = true;
                Pin::new(&mut conn).graceful_shutdown();
            }
        }
    };
    let answer = match outcome {
        Outcome::Done(Ok(())) => None,
        Outcome::Done(Err(e)) => match state.lock().automatic_answer {
            Some(status) => Some(protocol_error(status, &e)),
            None => {
                tracing::debug!(error = %e, "connection ended with an error");
                None
            }
        },
        Outcome::Expired(Phase::Head { .. }) => Some(header_timeout(shared.limits.header_read_timeout)),
        // Silent since the connect, idle between requests, or not reading its response.
        Outcome::Expired(phase) => {
            tracing::debug!(?phase, "closing a connection that timed out");
            None
        }
    };
    let mut stream = conn.into_parts().io.into_inner().stream;
    match answer {
        Some(error) => {
            tracing::info!(status = error.status().as_u16(), code = ?error.code, message = %error.message,
                "request refused before routing");
            let _ = tokio::time::timeout(ANSWER_LINGER, answer_and_close(&mut stream, error)).await;
        }
        // Also after a normal answer: one given before the body was read (413 on its
        // Content-Length, 401) is lost to a reset if the socket closes with the body unread.
        None => {
            let _ = tokio::time::timeout(ANSWER_LINGER, close_gently(&mut stream)).await;
        }
    }
}

/// Polls the connection, and between polls keeps the timer at the deadline of the phase the
/// connection is in (every phase change happens inside the connection's poll).
fn drive<'a>(
    conn: &'a mut Connection,
    state: &'a ConnectionState,
    limits: &'a Limits,
    mut timer: Pin<&'a mut Sleep>,
) -> impl Future<Output = Outcome> + 'a {
    poll_fn(move |cx: &mut Context<'_>| {
        if let Poll::Ready(result) = conn.poll_without_shutdown(cx) {
            return Poll::Ready(Outcome::Done(result));
        }
        let phase = state.lock().phase;
        let Some(deadline) = phase.deadline(limits) else { return Poll::Pending };
        let deadline = tokio::time::Instant::from_std(deadline);
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).map(|()| Outcome::Expired(phase))
    })
}

/// Where a connection is between requests, and since when (for its deadline).
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No byte of the next request yet: since the connect (`first`) or since the last response
    /// was written.
    Waiting { since: Instant, first: bool },
    /// Part of a request head has arrived; `since` is when its clock started (the connect, for
    /// the first request).
    Head { since: Instant },
    /// The router has the request.
    Busy,
    /// The response is complete and being written; `since` is the last write that progressed.
    Flushing { since: Instant },
}

impl Phase {
    fn deadline(self, limits: &Limits) -> Option<Instant> {
        match self {
            Phase::Waiting { since, first: true } | Phase::Head { since } => Some(since + limits.header_read_timeout),
            Phase::Waiting { since, first: false } | Phase::Flushing { since } => {
                Some(since + limits.keep_alive_timeout)
            }
            Phase::Busy => None,
        }
    }
}

struct ConnectionState {
    inner: Mutex<StateInner>,
}

struct StateInner {
    phase: Phase,
    /// The status of the answer hyper wrote by itself (a request head it could not parse).
    automatic_answer: Option<StatusCode>,
}

impl ConnectionState {
    fn new() -> ConnectionState {
        let phase = Phase::Waiting { since: Instant::now(), first: true };
        ConnectionState { inner: Mutex::new(StateInner { phase, automatic_answer: None }) }
    }

    fn lock(&self) -> MutexGuard<'_, StateInner> {
        // Only this connection's task takes the lock, and nothing in it can panic halfway.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_some(&self) {
        let mut inner = self.lock();
        if let Phase::Waiting { since, first } = inner.phase {
            inner.phase = Phase::Head { since: if first { since } else { Instant::now() } };
        }
    }

    /// Whether hyper writing `bytes` now is its own answer to an unparsable head: only then is
    /// no request with the router.
    fn swallow(&self, bytes: &[u8]) -> bool {
        let mut inner = self.lock();
        match inner.phase {
            Phase::Waiting { .. } | Phase::Head { .. } => {
                if inner.automatic_answer.is_none() {
                    inner.automatic_answer = Some(status_of(bytes));
                }
                true
            }
            Phase::Busy | Phase::Flushing { .. } => false,
        }
    }

    fn wrote_some(&self) {
        let mut inner = self.lock();
        if let Phase::Flushing { .. } = inner.phase {
            inner.phase = Phase::Flushing { since: Instant::now() };
        }
    }

    fn flushed(&self) {
        let mut inner = self.lock();
        if let Phase::Flushing { .. } = inner.phase {
            inner.phase = Phase::Waiting { since: Instant::now(), first: false };
        }
    }

    fn request_started(&self) {
        self.lock().phase = Phase::Busy;
    }

    fn response_complete(&self) {
        let mut inner = self.lock();
        if let Phase::Busy = inner.phase {
            inner.phase = Phase::Flushing { since: Instant::now() };
        }
    }
}

/// The status code of a response head (`HTTP/1.1 431 ...`); 400 if it is not one.
fn status_of(head: &[u8]) -> StatusCode {
    head.strip_prefix(b"HTTP/1.1 ")
        .or_else(|| head.strip_prefix(b"HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| StatusCode::from_bytes(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST)
}

/// The socket, telling [`ConnectionState`] what crosses it.
struct Tracked {
    stream: TcpStream,
    state: Arc<ConnectionState>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.state.swallow(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.state.wrote_some();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if self.state.swallow(first) {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.state.wrote_some();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(result, Poll::Ready(Ok(()))) {
            self.state.flushed();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, as hyper calls it for one connection: marks the request's phases, and closes the
/// connection after the response once shutdown has started.
#[derive(Clone)]
struct ConnectionService {
    shared: Arc<Shared>,
    state: Arc<ConnectionState>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<TrackedBody>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        self.state.request_started();
        let response = hyper::service::Service::call(&self.shared.service, req);
        let (shared, state) = (self.shared.clone(), self.state.clone());
        Box::pin(async move {
            let mut response = response.await?;
            // A client reusing this connection would keep sending here after the listener
            // closes; this makes it open a new one, which the load balancer sends elsewhere.
            if shared.lifecycle.is_draining() {
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Ok(response.map(|body| TrackedBody { body, state: Some(state) }))
        })
    }
}

/// A response body that marks the response complete when hyper drops it (after its last frame,
/// or at once for an empty body).
struct TrackedBody {
    body: axum::body::Body,
    state: Option<Arc<ConnectionState>>,
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            state.response_complete();
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The JSON answer for the head hyper could not parse, with the status hyper chose for it.
fn protocol_error(status: StatusCode, e: &hyper::Error) -> ApiError {
    let reason = e.to_string();
    match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "the request head is too large ({reason}); send at most 100 headers and about 400 KiB of request \
                 line and headers"
            ),
        ),
        StatusCode::URI_TOO_LONG => ApiError::new(
            ErrorCode::UriTooLong,
            format!("the request target is too long ({reason}); send the data in the body of POST /compute"),
        ),
        _ => ApiError::new(
            ErrorCode::MalformedRequest,
            format!(
                "the request is not valid HTTP/1.1 ({reason}); send a request line `METHOD /path HTTP/1.1`, \
                 well-formed headers and at most one non-negative Content-Length"
            ),
        ),
    }
    .with_details(json!({"reason": reason}))
}

fn header_timeout(limit: Duration) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request headers were not complete within {:.1} s (HEADER_READ_TIMEOUT); send the whole head at once",
            limit.as_secs_f64()
        ),
    )
    .with_details(json!({"limit_seconds": limit.as_secs_f64()}))
}

/// Writes `error` as a complete HTTP/1.1 response, then closes without losing it: the write side
/// is shut first and what the client still sends is read and dropped, since closing a socket with
/// unread input makes the kernel reset the connection, which can destroy the answer before the
/// client reads it.
async fn answer_and_close(stream: &mut TcpStream, error: ApiError) -> io::Result<()> {
    let status = error.status();
    let body = error.into_json();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\
         x-request-id: {}\r\n\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        uuid::Uuid::new_v4(),
    );
    stream.write_all(&[head.as_bytes(), &body].concat()).await?;
    close_gently(stream).await
}

/// Shuts the write side, then reads and drops what the client still sends until it closes too
/// (callers bound the wait), so the kernel never resets a connection whose answer is unread.
async fn close_gently(stream: &mut TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_of_hypers_automatic_answer_is_read_from_its_head() {
        assert_eq!(status_of(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), StatusCode::from_u16(431).unwrap());
        assert_eq!(status_of(b"HTTP/1.1 414 URI Too Long\r\n"), StatusCode::URI_TOO_LONG);
        assert_eq!(status_of(b"HTTP/1.0 400 Bad Request\r\n"), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(b"garbage"), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn each_phase_has_its_clock() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 1,
        };
        let t = Instant::now();
        let secs = |phase: Phase| phase.deadline(&limits).map(|d| d.duration_since(t).as_secs());
        assert_eq!(secs(Phase::Waiting { since: t, first: true }), Some(10));
        assert_eq!(secs(Phase::Waiting { since: t, first: false }), Some(60));
        assert_eq!(secs(Phase::Head { since: t }), Some(10));
        assert_eq!(secs(Phase::Flushing { since: t }), Some(60));
        assert_eq!(secs(Phase::Busy), None);
    }
}
