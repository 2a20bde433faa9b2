//! The same store-and-forward workload against an MQTT broker, Mosquitto (`--mqtt URL`,
//! feature `mqtt`).
//!
//! MQTT 5 through rumqttc, QoS 1. Every connection is its own MQTT client with a persistent
//! session (`clean_start` false, a session expiry of [`SESSION_EXPIRY_S`]), so the broker
//! queues what arrives for its mailboxes while it is away; it subscribes its mailboxes' topics
//! (`hushbench/RUN/J` for mailbox `J`, owned by connection `J % C`) at QoS 1 before the load
//! starts. A send is a QoS 1 PUBLISH and counts only once its PUBACK arrives; the owner
//! acknowledges each delivery with a PUBACK (rumqttc does so as soon as it reads the PUBLISH).
//! Latency is publish start to the PUBLISH arriving at the owner.
//!
//! MQTT has no message id to de-duplicate by: QoS 1 is at-least-once, so every delivery gets
//! its own sequence number here and a second delivery of the same message counts as a
//! duplicate. What a PUBACK means for durability is the broker's configuration (Mosquitto
//! keeps messages in memory and writes its persistence file only at its autosave interval and
//! at shutdown): see `scripts/bench-relay`.

use crate::drive::{self, Schedule};
use crate::payload::Codec;
use crate::relay_proc::{self, Sample};
use crate::tracker::Tracker;
use crate::{Load, Outcome, check_loopback};
use anyhow::{Context as _, Result, bail};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{NetworkOptions, Outgoing};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

/// Seconds the broker keeps a session (its subscriptions and queued messages) after its
/// client went away.
const SESSION_EXPIRY_S: u32 = 300;
/// Initial connection attempts per client before the run fails.
const CONNECT_TRIES: u32 = 5;

/// `mqtt://HOST:PORT` → host and port. HOST may be a bracketed IPv6 address.
fn parse_url(url: &str) -> Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .context("--mqtt must be mqtt://HOST:PORT")?;
    let (host, port) = rest
        .rsplit_once(':')
        .context("--mqtt must be mqtt://HOST:PORT")?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .with_context(|| format!("--mqtt: bad port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("--mqtt must be mqtt://HOST:PORT");
    }
    Ok((host.to_string(), port))
}

/// Matches PUBACKs to messages. rumqttc picks the packet id inside its event loop, so a send
/// is queued here in the order it is handed to the client, and the event loop's
/// `Outgoing::Publish(pkid)` events, which come in that same order, bind the queued sends to
/// packet ids. A packet id that is already bound is a retransmission (a resumed session).
struct Acks<T> {
    queued: VecDeque<T>,
    by_pkid: HashMap<u16, T>,
}

impl<T> Acks<T> {
    fn new() -> Self {
        Acks {
            queued: VecDeque::new(),
            by_pkid: HashMap::new(),
        }
    }

    /// A send about to be handed to the client.
    fn queue(&mut self, t: T) {
        self.queued.push_back(t);
    }

    /// The client refused the last queued send.
    fn unqueue_last(&mut self) -> Option<T> {
        self.queued.pop_back()
    }

    /// The event loop wrote a PUBLISH with `pkid`; false when nothing was waiting for it.
    ///
    /// Known limit: right after a reconnect, a PUBLISH retransmitted from the resumed session
    /// and a new one that rumqttc gave a packet id just freed could share `pkid`; the new one
    /// would then be taken for a retransmission and its PUBACK credited to the older send.
    /// It needs a reconnect while sends wait in rumqttc's queue (no steady run has one), and
    /// at worst it mislabels which send a PUBACK answered; deliveries are still checked by
    /// their payload.
    fn sent(&mut self, pkid: u16) -> bool {
        if self.by_pkid.contains_key(&pkid) {
            return true; // retransmitted after a reconnect
        }
        match self.queued.pop_front() {
            Some(t) => {
                self.by_pkid.insert(pkid, t);
                true
            }
            None => false,
        }
    }

    /// The PUBACK of `pkid` arrived: the send it belongs to.
    fn acked(&mut self, pkid: u16) -> Option<T> {
        self.by_pkid.remove(&pkid)
    }

    /// The broker did not resume the session: nothing outstanding will be acknowledged.
    fn take_all(&mut self) -> Vec<T> {
        let mut all: Vec<T> = self.by_pkid.drain().map(|(_, t)| t).collect();
        all.extend(self.queued.drain(..));
        all
    }
}

/// A send waiting for its PUBACK: message number, and whom to tell (true: stored).
type Waiter = (u64, oneshot::Sender<bool>);

/// One MQTT client.
struct Conn {
    client: AsyncClient,
    acks: std::sync::Mutex<Acks<Waiter>>,
}

impl Conn {
    fn acks(&self) -> std::sync::MutexGuard<'_, Acks<Waiter>> {
        match self.acks.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Hands a QoS 1 PUBLISH to the client, in the same order as it is queued in `acks`.
    fn publish(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        waiter: Waiter,
    ) -> std::result::Result<(), ()> {
        let mut acks = self.acks();
        acks.queue(waiter);
        if self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .is_err()
        {
            acks.unqueue_last();
            return Err(());
        }
        Ok(())
    }
}

struct Shared {
    codec: Codec,
    tracker: Tracker,
    topics: Vec<String>,
    connections: usize,
    /// Every delivery gets its own sequence number: a second delivery is a duplicate.
    delivery_seq: AtomicU64,
    /// Set once the run is over: connection errors from then on end the event loops.
    closing: AtomicBool,
    schedule: Arc<Schedule>,
}

impl Shared {
    /// Whether a delivery of mailbox `mailbox` on `topic` belongs on connection `i`.
    fn owns(&self, i: usize, mailbox: u32, topic: &[u8]) -> bool {
        let j = mailbox as usize;
        j % self.connections == i && self.topics.get(j).is_some_and(|t| t.as_bytes() == topic)
    }
}

async fn send_one(shared: &Shared, conn: &Conn, n: u64, sent_ns: u64) {
    let m = (n % shared.topics.len() as u64) as usize;
    let payload = bytes::Bytes::from(shared.codec.encode(n, m as u32, sent_ns));
    loop {
        let (tx, mut rx) = oneshot::channel();
        if conn
            .publish(&shared.topics[m], payload.clone(), (n, tx))
            .is_err()
        {
            shared.tracker.error("mqtt_publish_queue");
        } else {
            // Bounded: every second, whether the run has given up on outstanding sends.
            let answer = loop {
                tokio::select! {
                    a = &mut rx => break Some(a),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {
                        if shared.schedule.giving_up() {
                            break None;
                        }
                    }
                }
            };
            match answer {
                Some(Ok(true)) => return, // the event loop counted the receipt
                Some(Ok(false)) => {}     // rejected PUBACK, counted as an error: send again
                Some(Err(_)) => shared.tracker.error("mqtt_session_lost"),
                None => return shared.tracker.abandon(),
            }
        }
        if shared.schedule.giving_up() {
            return shared.tracker.abandon();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn error_kind(e: &rumqttc::v5::ConnectionError) -> &'static str {
    use rumqttc::v5::ConnectionError as E;
    match e {
        E::MqttState(_) => "mqtt_state",
        E::Timeout(_) => "mqtt_timeout",
        E::Io(_) => "mqtt_io",
        E::ConnectionRefused(_) => "mqtt_connection_refused",
        E::NotConnAck(_) => "mqtt_not_connack",
        E::RequestsDone => "mqtt_requests_done",
    }
}

/// Drives one client's event loop: counts PUBACKs and deliveries, and reconnects (resuming
/// the session) after a connection error until the run is over.
async fn event_loop(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    mut el: EventLoop,
    i: usize,
    ready: Arc<(AtomicUsize, Notify)>,
) -> Result<()> {
    let mut connected = false;
    let mut failed_connects = 0;
    loop {
        let event = match el.poll().await {
            Ok(ev) => ev,
            Err(e) => {
                if shared.closing.load(Ordering::SeqCst) {
                    return Ok(());
                }
                if !connected {
                    failed_connects += 1;
                    if failed_connects >= CONNECT_TRIES {
                        bail!("MQTT connection {i}: {e}");
                    }
                }
                shared.tracker.error(error_kind(&e));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match event {
            Event::Incoming(Packet::ConnAck(c)) => {
                if connected && !c.session_present {
                    // The broker lost the session (a restart without its persistence file):
                    // what it had queued is gone and the subscriptions with it.
                    shared.tracker.error("mqtt_session_not_resumed");
                    for (_, tx) in conn.acks().take_all() {
                        drop(tx); // the sender sends again
                    }
                    let (shared, client) = (shared.clone(), conn.client.clone());
                    tokio::spawn(async move {
                        let mine = (i..shared.topics.len()).step_by(shared.connections);
                        for j in mine {
                            let topic = shared.topics[j].clone();
                            if client.subscribe(topic, QoS::AtLeastOnce).await.is_err() {
                                return;
                            }
                        }
                    });
                }
                connected = true;
            }
            Event::Incoming(Packet::SubAck(s)) => {
                for code in &s.return_codes {
                    if !matches!(code, SubscribeReasonCode::Success(QoS::AtLeastOnce)) {
                        bail!("MQTT connection {i}: subscription refused or downgraded: {code:?}");
                    }
                }
                ready.0.fetch_add(s.return_codes.len(), Ordering::SeqCst);
                ready.1.notify_one();
            }
            Event::Incoming(Packet::Publish(p)) => {
                let now = shared.schedule.now_ns();
                let seq = shared.delivery_seq.fetch_add(1, Ordering::Relaxed);
                match shared.codec.decode(&p.payload) {
                    Some(d) if shared.owns(i, d.mailbox, &p.topic) => {
                        shared
                            .tracker
                            .delivery(d.n, seq, now.saturating_sub(d.sent_ns) / 1000);
                    }
                    _ => shared.tracker.corrupt(),
                }
            }
            Event::Incoming(Packet::PubAck(a)) => {
                let Some((n, tx)) = conn.acks().acked(a.pkid) else {
                    shared.tracker.error("mqtt_puback_unmatched");
                    continue;
                };
                // NoMatchingSubscribers would mean that no session holds the message: it is
                // not stored for anyone, so it is an error here (and the sender tries again).
                let stored = matches!(a.reason, PubAckReason::Success);
                if stored {
                    shared.tracker.receipt(n);
                } else {
                    shared
                        .tracker
                        .error(&format!("mqtt_puback_{:?}", a.reason).to_lowercase());
                }
                let _ = tx.send(stored);
            }
            Event::Incoming(Packet::Disconnect(d)) => {
                shared
                    .tracker
                    .error(&format!("mqtt_server_disconnect_{:?}", d.reason_code).to_lowercase());
            }
            // Binds the next queued send to its packet id (a side effect of the guard).
            Event::Outgoing(Outgoing::Publish(pkid)) if !conn.acks().sent(pkid) => {
                shared.tracker.error("mqtt_publish_unmatched");
            }
            Event::Outgoing(Outgoing::Disconnect) => return Ok(()),
            _ => {}
        }
    }
}

/// Runs the workload against an MQTT broker; returns what was measured.
pub(crate) async fn run(url: &str, load: &Load, pid: Option<u32>) -> Result<Outcome> {
    let (host, port) = parse_url(url)?;
    check_loopback(&host)?;
    if load.crash_every.is_some() {
        bail!("--crash-every is for the Hush relay only");
    }
    let codec = Codec::new(load.size, load.verify).context("no randomness")?;
    let run_id = format!("{:016x}", codec.nonce());
    let topics = (0..load.mailboxes)
        .map(|j| format!("hushbench/{run_id}/{j}"))
        .collect();
    let shared = Arc::new(Shared {
        codec,
        tracker: Tracker::new(load.verify)?,
        topics,
        connections: load.connections,
        delivery_seq: AtomicU64::new(0),
        closing: AtomicBool::new(false),
        schedule: Arc::new(Schedule::new(load.count)),
    });

    let inflight = match load.rate {
        Some(_) => drive::OPEN_LOOP_INFLIGHT,
        None => load.inflight,
    };
    let max_packet = u32::try_from(load.size + 1024).context("--size too large for MQTT")?;
    let ready = Arc::new((AtomicUsize::new(0), Notify::new()));
    let mut loops = JoinSet::new();
    let mut conns = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let mut opts = MqttOptions::new(format!("hb-{run_id}-{i}"), host.as_str(), port);
        opts.set_clean_start(false)
            .set_session_expiry_interval(Some(SESSION_EXPIRY_S))
            .set_max_packet_size(Some(max_packet))
            .set_outgoing_inflight_upper_limit(u16::try_from(inflight.max(1)).unwrap_or(200))
            .set_keep_alive(Duration::from_secs(30));
        let mut net = NetworkOptions::new();
        net.set_tcp_nodelay(true);
        opts.set_network_options(net);
        let (client, el) = AsyncClient::new(opts, inflight + 64);
        let conn = Arc::new(Conn {
            client,
            acks: std::sync::Mutex::new(Acks::new()),
        });
        loops.spawn(event_loop(
            shared.clone(),
            conn.clone(),
            el,
            i,
            ready.clone(),
        ));
        conns.push(conn);
    }
    for j in 0..load.mailboxes {
        let conn = &conns[j % conns.len()];
        conn.client
            .subscribe(shared.topics[j].clone(), QoS::AtLeastOnce)
            .await
            .map_err(|_| {
                anyhow::anyhow!("MQTT connection {}: event loop ended", j % conns.len())
            })?;
    }

    let result = drive(&shared, &conns, &mut loops, &ready, load, pid).await;
    // Disconnect cleanly (the sessions expire SESSION_EXPIRY_S later), then stop the loops.
    shared.closing.store(true, Ordering::SeqCst);
    for c in &conns {
        let _ = c.client.try_disconnect();
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while loops.join_next().await.is_some() {}
    })
    .await;
    loops.abort_all();
    let (start, send_end, start_sample, end_sample) = result?;
    Ok(Outcome {
        start,
        send_end,
        totals: shared.tracker.totals(),
        start_sample,
        end_sample,
        crashes: 0,
        quic: None,
        faults: Default::default(),
    })
}

async fn drive(
    shared: &Arc<Shared>,
    conns: &[Arc<Conn>],
    loops: &mut JoinSet<Result<()>>,
    ready: &Arc<(AtomicUsize, Notify)>,
    load: &Load,
    pid: Option<u32>,
) -> Result<(Instant, Instant, Option<Sample>, Option<Sample>)> {
    let sample = || pid.map(relay_proc::sample).transpose();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.0.load(Ordering::SeqCst) < load.mailboxes {
        if Instant::now() > deadline {
            bail!("subscriptions were not all acknowledged within 120 s");
        }
        match loops.try_join_next() {
            Some(Ok(Err(e))) => return Err(e),
            Some(Ok(Ok(()))) => bail!("an MQTT connection ended before the run"),
            Some(Err(e)) => bail!("an MQTT event loop failed: {e}"),
            None => {}
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), ready.1.notified()).await;
    }

    let start_sample = sample()?;
    let start = Instant::now();
    let mut senders = drive::spawn_senders(
        load,
        &shared.schedule,
        shared,
        conns,
        |shared: Arc<Shared>, conn: Arc<Conn>, n, t| async move { send_one(&shared, &conn, n, t).await },
    );
    drive::run_for(load, start, &mut senders).await;
    let send_end = drive::finish(load, &shared.schedule, &mut senders, &shared.tracker).await;
    let end_sample = sample()?;
    Ok((start, send_end, start_sample, end_sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://[::1]:47424").unwrap(),
            ("::1".into(), 47424)
        );
        for bad in [
            "127.0.0.1:1883",
            "nats://127.0.0.1:1883",
            "mqtt://127.0.0.1",
            "mqtt://127.0.0.1:0",
            "mqtt://127.0.0.1:99999",
            "mqtt://:1883",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn acks_follow_publish_order_and_survive_retransmission() {
        let mut a = Acks::new();
        a.queue(10u64);
        a.queue(11);
        a.queue(12);
        assert_eq!(a.unqueue_last(), Some(12)); // the client refused it
        assert!(a.sent(1));
        assert!(a.sent(2));
        assert!(a.sent(1)); // retransmitted after a reconnect: still message 10
        assert!(!a.sent(3)); // nothing queued
        assert_eq!(a.acked(2), Some(11));
        assert_eq!(a.acked(2), None);
        a.queue(13);
        assert!(a.sent(2)); // packet id reused
        let mut rest = a.take_all();
        rest.sort();
        assert_eq!(rest, vec![10, 13]);
        assert_eq!(a.acked(1), None);
    }
}
