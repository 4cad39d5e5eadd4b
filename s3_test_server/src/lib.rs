//! A real S3 server for tests and benchmarks: s3s speaking the S3 protocol with SigV4
//! signatures checked, s3s-fs storing objects as plain files under a directory (a bucket is a
//! top-level directory). One definition shared by every crate's tests, the benchmark scripts
//! and the `s3-test-server` binary.

mod dir_aware_fs;
mod failing;

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

pub use dir_aware_fs::{DirAwareFs, Traffic};
pub use failing::{BreakingS3, FailingS3};

/// The access key the test servers accept.
pub const ACCESS_KEY: &str = "test-ak";
/// The secret key the test servers accept.
pub const SECRET_KEY: &str = "test-sk";

/// Errors starting the server (the directory or the port).
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Binds `addr`, serves `root` with the given keys on the current tokio runtime, and returns
/// the endpoint URL (`http://127.0.0.1:PORT`). The server lives as long as the runtime.
pub async fn serve(root: &Path, addr: SocketAddr, access_key: &str, secret_key: &str) -> Result<String, StartError> {
    Ok(serve_counted(root, addr, access_key, secret_key).await?.0)
}

/// [`serve`], also returning the server's GetObject counters.
pub async fn serve_counted(
    root: &Path,
    addr: SocketAddr,
    access_key: &str,
    secret_key: &str,
) -> Result<(String, Traffic), StartError> {
    let fs =
        s3s_fs::FileSystem::new(root).map_err(|e| StartError(format!("cannot serve {}: {e:?}", root.display())))?;
    let fs = DirAwareFs::new(fs, root);
    let traffic = fs.traffic();
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    let service = builder.build();
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr().map_err(|e| StartError(format!("no local address: {e}")))?;
    tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((sock, _)) = listener.accept().await else { continue };
            let conn = http.serve_connection(TokioIo::new(sock), service.clone()).into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    Ok((format!("http://{local}"), traffic))
}

/// Serves `root` on a free 127.0.0.1 port with [`ACCESS_KEY`]/[`SECRET_KEY`], on the current
/// runtime. Panics if the server cannot start: for tests only.
pub async fn start(root: &Path) -> String {
    start_counted(root).await.0
}

/// [`start`], also returning the server's GetObject counters.
pub async fn start_counted(root: &Path) -> (String, Traffic) {
    match serve_counted(root, SocketAddr::from(([127, 0, 0, 1], 0)), ACCESS_KEY, SECRET_KEY).await {
        Ok(started) => started,
        Err(e) => panic!("in-process S3 server: {e}"),
    }
}

/// A server with its own runtime and its own temporary directory, for synchronous tests.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// The directory behind the server: `root/<bucket>/<key>`.
    pub root: tempfile::TempDir,
    /// What GetObject answered so far.
    pub traffic: Traffic,
    _runtime: tokio::runtime::Runtime,
}

impl S3Server {
    /// Starts a server with the given buckets already created. Panics on failure: tests only.
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).unwrap_or_else(|e| panic!("bucket dir {b}: {e}"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("tokio runtime: {e}"));
        let (endpoint, traffic) = runtime.block_on(start_counted(root.path()));
        S3Server { endpoint, root, traffic, _runtime: runtime }
    }
}
