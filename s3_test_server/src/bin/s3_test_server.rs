//! A real S3 server on 127.0.0.1 for benchmark scripts and manual runs.
//! Usage: `s3-test-server DATA_DIR PORT ACCESS_KEY SECRET_KEY`; prints `ready` once listening.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, port, ak, sk] = &args[..] else {
        return Err("usage: s3-test-server DATA_DIR PORT ACCESS_KEY SECRET_KEY".into());
    };
    let port: u16 = port.parse().map_err(|_| format!("PORT must be a number 0-65535, got {port:?}"))?;
    let endpoint = s3_test_server::serve(dir.as_ref(), SocketAddr::from(([127, 0, 0, 1], port)), ak, sk).await?;
    println!("ready {endpoint}");
    std::future::pending::<()>().await;
    Ok(())
}
