//! The load generator of `scripts/bench_streaming.sh`: publishes sensor readings, one per
//! message (QoS 1, `sensors/<source>/readings`, `{"ts": <publish time>, "values": {"f0": x, ...}}`
//! as the Python reference consumer reads them), round-robin over SOURCES sources at RATE
//! messages/s for SECONDS, while a second client subscribed to LISTEN (QoS 0) counts what comes
//! back and how long after its reading's time stamp. Prints one JSON line: published, received,
//! received_per_s (first to last received), p50/p99 delay in ms.
//!
//! Usage: `mqtt_load PORT SOURCES FEATURES RATE SECONDS LISTEN [EXPECTED]`; EXPECTED (default:
//! every published message) ends the wait for the echo early. RATE 0 publishes as fast as the
//! broker takes them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn nodelay() -> rumqttc::NetworkOptions {
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    network
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        bail!("usage: mqtt_load PORT SOURCES FEATURES RATE SECONDS LISTEN [EXPECTED]");
    }
    let number =
        |i: usize| args[i].parse::<u64>().with_context(|| format!("argument {}: {:?} is not a number", i + 1, args[i]));
    let (port, sources, features, rate, seconds) =
        (u16::try_from(number(0)?)?, number(1)?, number(2)?, number(3)?, number(4)?);
    let listen = args[5].clone();

    // The listener first, so nothing is missed.
    let mut options = MqttOptions::new(format!("mqtt-load-listener-{}", std::process::id()), "127.0.0.1", port);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (listener, mut listener_loop) = AsyncClient::new(options, 100);
    listener_loop.set_network_options(nodelay());
    listener.subscribe(listen.clone(), QoS::AtMostOnce).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, f64)>();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            match listener_loop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = subscribed_tx.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let arrived = now();
                    let ts = serde_json::from_slice::<serde_json::Value>(&p.payload)
                        .ok()
                        .and_then(|v| v["ts"].as_f64())
                        .unwrap_or(arrived);
                    let _ = tx.send((Instant::now(), arrived - ts));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed).await.context("the listener's subscription")??;

    let mut options = MqttOptions::new(format!("mqtt-load-publisher-{}", std::process::id()), "127.0.0.1", port);
    options.set_inflight(1000).set_max_packet_size(1 << 20, 1 << 20);
    let (publisher, mut publisher_loop) = AsyncClient::new(options, 10_000);
    publisher_loop.set_network_options(nodelay());
    tokio::spawn(async move {
        loop {
            if publisher_loop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });

    // A reading's values: a slow wave per source, so windows differ.
    let names: Vec<String> = (0..features).map(|i| format!("f{i}")).collect();
    let started = Instant::now();
    let total = if rate == 0 { u64::MAX } else { rate * seconds };
    let mut published = 0u64;
    let tick = Duration::from_millis(1);
    let mut next = Instant::now();
    while published < total && started.elapsed() < Duration::from_secs(seconds) {
        let due = if rate == 0 { published + 100 } else { (started.elapsed().as_secs_f64() * rate as f64) as u64 + 1 };
        while published < due.min(total) {
            let source = published % sources;
            let step = (published / sources) as f64;
            let mut body = String::with_capacity(24 * features as usize + 40);
            body.push_str(&format!("{{\"ts\":{:.6},\"values\":{{", now()));
            for (i, name) in names.iter().enumerate() {
                let v = ((step * 0.01 + i as f64 + source as f64).sin()) * 2.0;
                body.push_str(&format!("{}\"{name}\":{v:.5}", if i == 0 { "" } else { "," }));
            }
            body.push_str("}}");
            publisher.publish(format!("sensors/s{source}/readings"), QoS::AtLeastOnce, false, body).await?;
            published += 1;
        }
        next += tick;
        tokio::time::sleep_until(next.into()).await;
    }
    let expected = args.get(6).map(|e| e.parse::<u64>()).transpose()?.unwrap_or(published);

    // What comes back, until EXPECTED or two quiet seconds.
    let mut delays = Vec::with_capacity(expected as usize);
    let mut first = None;
    let mut last = Instant::now();
    while (delays.len() as u64) < expected {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some((at, delay))) => {
                first.get_or_insert(at);
                last = at;
                delays.push(delay);
            }
            _ => break,
        }
    }
    delays.sort_by(f64::total_cmp);
    let pick = |q: f64| delays.get(((delays.len() as f64 - 1.0) * q).round() as usize).map_or(0.0, |d| d * 1000.0);
    let span = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    println!(
        "{}",
        serde_json::json!({
            "published": published,
            "publish_seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "received": delays.len(),
            "received_per_s": if span > 0.0 { (delays.len() as f64 / span).round() } else { 0.0 },
            "p50_delay_ms": (pick(0.5) * 1000.0).round() / 1000.0,
            "p99_delay_ms": (pick(0.99) * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}
