//! Load through a shutdown, as a load balancer sends it (scripts/load_shutdown.sh): CONCURRENCY
//! workers POST a CSV body to /compute on kept-alive connections, while a prober reads
//! /health/ready every 50 ms; once it answers anything but 200 (or not at all), no worker sends
//! another request, the way a load balancer takes the replica out of rotation. Requests already
//! sent must all get a 200. Prints requests, failures (with the first reasons) and latency.
//!
//! Usage: `lb_load BASE_URL BODY_CSV [CONCURRENCY] [SECONDS]` (defaults 64 and 20).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    failures: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(body)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: lb_load BASE_URL BODY_CSV [CONCURRENCY] [SECONDS]");
    };
    let concurrency: usize = args.get(3).map_or(Ok(64), |c| c.parse()).context("CONCURRENCY")?;
    let seconds: f64 = args.get(4).map_or(Ok(20.0), |s| s.parse()).context("SECONDS")?;
    let body = bytes::Bytes::from(std::fs::read(body).with_context(|| format!("reading {body}"))?);
    let out_of_rotation = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(seconds);

    let prober = {
        let (base, out) = (base.clone(), out_of_rotation.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(1)).build()?;
            while Instant::now() < end {
                let ready = client.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200);
                if !ready {
                    out.store(true, Ordering::SeqCst);
                    println!("readiness not 200 after {:.2} s: no new requests", started.elapsed().as_secs_f64());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };

    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (base, body, out) = (base.clone(), body.clone(), out_of_rotation.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut tally = Tally::default();
                while Instant::now() < end && !out.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let result = client
                        .post(format!("{base}/compute"))
                        .header("content-type", "text/csv")
                        .body(body.clone())
                        .send()
                        .await;
                    match result {
                        Ok(resp) if resp.status() == 200 => match resp.bytes().await {
                            Ok(_) => tally.latencies.push(sent.elapsed()),
                            Err(e) => tally.failures.push(format!("reading the answer: {e}")),
                        },
                        Ok(resp) => tally.failures.push(format!("status {}", resp.status())),
                        Err(e) => tally.failures.push(format!("{e:?}")),
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for worker in workers {
        let tally = worker.await?;
        all.latencies.extend(tally.latencies);
        all.failures.extend(tally.failures);
    }
    prober.await??;
    all.latencies.sort();
    let p = |q: f64| {
        all.latencies.get(((all.latencies.len() as f64 * q) as usize).min(all.latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    let requests = all.latencies.len() + all.failures.len();
    println!(
        "requests {requests}, failures {}, p50 {:.2} ms, p99 {:.2} ms, over {:.2} s at concurrency {concurrency}",
        all.failures.len(),
        ms(p(0.5)),
        ms(p(0.99)),
        started.elapsed().as_secs_f64()
    );
    for f in all.failures.iter().take(5) {
        println!("failure: {f}");
    }
    if !all.failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
