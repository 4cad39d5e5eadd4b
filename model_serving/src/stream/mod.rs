//! Streaming: with MQTT_URL set the service subscribes to sensor readings (MQTT_TOPICS, QoS 1,
//! a persistent session under MQTT_CLIENT_ID), keeps each source's window, scores every reading
//! as it arrives with the served model and the scoring `/compute` uses (the window ending at the
//! reading: no look-ahead), and publishes alert events with hysteresis to MQTT_ALERT_TOPIC.
//!
//! Two tasks: [`connection`] drives the MQTT client (reconnecting with back-off) and hands
//! messages to [`worker`], which batches, scores, publishes and acks. [`message`] checks a
//! message, [`sources`] keeps the windows and alert states; neither knows MQTT. The scored
//! readings go into the drift windows as a request's rows do ([`observed`]).

pub mod connection;
pub mod message;
pub mod metrics;
mod observed;
pub mod sources;
pub mod tls;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rumqttc::{AsyncClient, MqttOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, MqttUrl};
use crate::inference::Scorer;
use crate::metrics::Metrics;

/// Messages received and not yet taken by the worker: the broker holds the rest (its inflight
/// window), so memory stays bounded however fast readings come.
const CHANNEL_MESSAGES: usize = 4 * worker::BATCH_MESSAGES;

/// Why streaming could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("setting up the streaming metrics failed")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The running stream.
#[derive(Debug)]
pub struct Stream {
    connected: Arc<AtomicBool>,
    stop: watch::Sender<bool>,
    connection: JoinHandle<()>,
    worker: JoinHandle<()>,
}

/// Starts streaming from `url`. Never waits for the broker: an unreachable one keeps
/// [`Stream::connected`] false (readiness 503) while the connection retries.
pub fn start(url: &MqttUrl, config: &Config, scorer: Scorer, metrics: &Metrics) -> Result<Stream, StartError> {
    let metrics = metrics::StreamMetrics::new(metrics)?;
    let mut options = MqttOptions::new(config.mqtt_client_id.clone(), url.host.clone(), url.port);
    options
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        // Room for a message over the limit to arrive, so it can be refused with a reason
        // instead of breaking the connection.
        .set_max_packet_size(config.mqtt_max_message_bytes.saturating_mul(2).max(16 * 1024), 1024 * 1024)
        .set_inflight(u16::try_from(worker::BATCH_MESSAGES).unwrap_or(u16::MAX));
    if url.tls {
        let tls = tls::client_config(config.mqtt_ca_file.as_deref())?;
        options.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(tls)));
    }
    if let Some(user) = &config.mqtt_username {
        let password = config.mqtt_password.as_ref().map(|p| p.0.clone()).unwrap_or_default();
        options.set_credentials(user.clone(), password);
    }
    let (client, mut eventloop) = AsyncClient::new(options, CHANNEL_MESSAGES);
    // Each alert goes out at once: without TCP_NODELAY a lone small publish waits for the
    // broker's delayed ACK (tens of milliseconds).
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let (to_worker, from_connection) = mpsc::channel(CHANNEL_MESSAGES);
    let connected = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let connection = tokio::spawn(connection::run(
        eventloop,
        client.clone(),
        config.mqtt_topics.clone(),
        to_worker,
        connected.clone(),
        metrics.clone(),
        stopped,
    ));
    let worker = worker::Worker {
        client,
        scorer,
        topics: worker::Topics {
            filters: config.mqtt_topics.clone(),
            alert: config.mqtt_alert_topic.clone(),
            score: config.mqtt_score_topic.clone(),
            error: config.mqtt_error_topic.clone(),
        },
        limits: sources::Limits {
            alert_clear: config.mqtt_alert_clear,
            ttl: config.mqtt_source_ttl,
            max_sources: config.mqtt_max_sources,
        },
        max_message_bytes: config.mqtt_max_message_bytes,
        partition: config.mqtt_partition,
        metrics,
    };
    let worker = tokio::spawn(worker.run(from_connection));
    tracing::info!(broker = %url, topics = ?config.mqtt_topics, client_id = %config.mqtt_client_id, "streaming readings from MQTT");
    Ok(Stream { connected, stop, connection, worker })
}

impl Stream {
    /// Whether the broker connection is up (readiness), shareable.
    pub fn connected(&self) -> Arc<AtomicBool> {
        self.connected.clone()
    }

    /// Stops taking messages, finishes those in hand (scored, published, acked), then
    /// disconnects; at most `limit`.
    pub async fn shutdown(self, limit: Duration) {
        let _ = self.stop.send(true);
        let finished = async {
            let _ = self.worker.await;
            let _ = self.connection.await;
        };
        if tokio::time::timeout(limit, finished).await.is_err() {
            tracing::warn!("streaming did not finish in time; unacked messages stay with the broker");
        }
    }
}
