//! The MQTT connection: drives rumqttc's event loop, subscribes to MQTT_TOPICS (QoS 1) whenever
//! the broker has no session for this client, reconnects with back-off after a failure, and
//! hands each received publish to the worker. Acknowledgements are manual: the worker acks a
//! message once it has been scored, so a message in hand when the process dies is sent again.
//!
//! The event loop is polled without pause, even while the worker's queue is full: the worker's
//! acks and alerts go out through it, so waiting for the worker here would deadlock both under
//! load. Messages that find the queue full wait in `overflow`, bounded by the broker's own limit
//! on unacknowledged messages per client (mosquitto's `max_inflight_messages`, 20 by default).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, EventLoop, Packet, Publish, QoS};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};

use super::metrics::StreamMetrics;

/// A received message and when it arrived.
pub struct Received {
    pub publish: Publish,
    pub arrived: Instant,
}

/// First and longest wait before connecting again.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs until `stop` turns true and the worker has disconnected (or the worker is gone).
pub async fn run(
    mut eventloop: EventLoop,
    client: AsyncClient,
    topics: Vec<String>,
    to_worker: mpsc::Sender<Received>,
    connected: Arc<AtomicBool>,
    metrics: StreamMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_FIRST;
    let mut connections = 0u64;
    // Once stopping, nothing new is handed over: unacked messages stay with the broker's
    // session for the next start.
    let mut forwarding = Some(to_worker);
    let mut overflow: VecDeque<Received> = VecDeque::new();
    loop {
        let step = tokio::select! {
            event = eventloop.poll() => Step::Event(event),
            permit = room(forwarding.as_ref()), if !overflow.is_empty() => match permit {
                Some(permit) => {
                    if let Some(received) = overflow.pop_front() {
                        permit.send(received);
                    }
                    Step::Forwarded
                }
                None => Step::StopForwarding,
            },
            _ = stop.changed(), if forwarding.is_some() => Step::StopForwarding,
        };
        let event = match step {
            Step::Event(event) => event,
            Step::Forwarded => continue,
            Step::StopForwarding => {
                forwarding = None;
                overflow.clear();
                continue;
            }
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                connections += 1;
                if connections > 1 {
                    metrics.reconnects.inc();
                }
                backoff = BACKOFF_FIRST;
                connected.store(true, Ordering::SeqCst);
                metrics.connected.set(1);
                tracing::info!(session_present = ack.session_present, "connected to the MQTT broker");
                if !ack.session_present {
                    for topic in &topics {
                        if let Err(e) = client.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                            tracing::error!(%topic, error = %e, "subscribing failed");
                        }
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let Some(sender) = &forwarding else { continue };
                let received = Received { publish, arrived: Instant::now() };
                if !overflow.is_empty() {
                    overflow.push_back(received);
                    continue;
                }
                match sender.try_send(received) {
                    Ok(()) => {}
                    Err(TrySendError::Full(received)) => overflow.push_back(received),
                    Err(TrySendError::Closed(_)) => forwarding = None,
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                // The worker has finished and said goodbye: the connection is done once the
                // broker has read it.
                connected.store(false, Ordering::SeqCst);
                metrics.connected.set(0);
                until_closed(&mut eventloop).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let was_connected = connected.swap(false, Ordering::SeqCst);
                metrics.connected.set(0);
                if forwarding.is_none() && *stop.borrow() {
                    return;
                }
                if was_connected {
                    tracing::warn!(error = %e, "lost the MQTT broker; connecting again");
                } else {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot reach the MQTT broker; trying again");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => { forwarding = None; }
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// After DISCONNECT, reads until the broker closes the connection (at most [`CLOSE_WAIT`]).
/// Closing a socket with unread data in it sends a reset, and a broker still sending a backlog
/// leaves data unread: the reset can discard the last acks and the DISCONNECT before the broker
/// reads them, and it sends those messages again to the next start. What arrives meanwhile is
/// not acked: the broker keeps it for the next start.
async fn until_closed(eventloop: &mut EventLoop) {
    let closed = async { while eventloop.poll().await.is_ok() {} };
    if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
        tracing::debug!("the MQTT broker did not close the connection after DISCONNECT");
    }
}

/// How long the broker may take to close the connection after DISCONNECT.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// What woke the loop.
enum Step {
    Event(Result<Event, rumqttc::ConnectionError>),
    /// A waiting message went to the worker.
    Forwarded,
    /// Stopping, or the worker is gone: nothing more is handed over.
    StopForwarding,
}

/// Room for one message in the worker's queue (None when it is gone).
async fn room(sender: Option<&mpsc::Sender<Received>>) -> Option<mpsc::Permit<'_, Received>> {
    sender?.reserve().await.ok()
}
