//! The workload against a Hush relay, over real QUIC with the relay crate's [`Client`].
//!
//! `C` connections, `M` mailboxes; mailbox `j` is owned (authenticated and subscribed) on
//! connection `j % C`, every connection also sends. Message `n` goes to mailbox `n % M`.
//! Receivers keep the cursor of their subscription and acknowledge (delete) what they got;
//! after a reconnect they re-authenticate, re-send unconfirmed acks and subscribe again from
//! their cursor, so a relay restart loses nothing and replays nothing the app already has.
//! A send is retried with the same envelope id and bytes until it gets its stored receipt
//! (the relay answers a repeat with the same receipt), or given up after the drain period.

use crate::contend::Contention;
use crate::drive::{self, Schedule};
use crate::nodes::{Nodes, Recovery};
use crate::relay_proc::Sample;
use crate::tracker::Tracker;
use crate::{FaultReport, Load, Outcome, payload::Codec};
use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use hush_relay_client::{Client, ClientError, EnvelopeId, MailboxAddress, RelayUrl};
use hush_relay_client::{ClientOptions, MailboxSubscription, OneTimePrekey};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Most acknowledged sequence numbers in one ACK request (the relay takes up to 1000).
const ACK_CHUNK: usize = 500;

/// Short name of an error, for "errors by kind".
pub(crate) fn kind(e: &ClientError) -> String {
    match e {
        ClientError::Relay { code, .. } => format!("relay_{code:?}"),
        ClientError::Timeout => "timeout".into(),
        ClientError::Connect(_) | ClientError::Connection(_) => "connection".into(),
        ClientError::Stream(_) | ClientError::Frame(_) | ClientError::NoResponse => "stream".into(),
        ClientError::Receipt(_) => "bad_receipt".into(),
        _ => "other".into(),
    }
}

/// Whether the connection is probably dead (reconnect) rather than the request refused.
pub(crate) fn transport(e: &ClientError) -> bool {
    !matches!(
        e,
        ClientError::Relay { .. } | ClientError::Receipt(_) | ClientError::Id(_)
    )
}

/// How long to wait before trying again after `e`: the relay's `retry_after_ms` (at most
/// 1 s), 100 ms after a transport error (the next attempt reconnects), else 20 ms.
pub(crate) fn retry_pause(e: &ClientError) -> Duration {
    match e {
        ClientError::Relay { retry_after_ms, .. } if *retry_after_ms > 0 => {
            Duration::from_millis((*retry_after_ms).min(1000))
        }
        e if transport(e) => Duration::from_millis(100),
        _ => Duration::from_millis(20),
    }
}

pub(crate) fn client_options(crash: bool) -> ClientOptions {
    if crash {
        // A SIGKILLed relay sends no CONNECTION_CLOSE: notice it quickly.
        ClientOptions {
            keep_alive: Duration::from_millis(500),
            idle_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..ClientOptions::default()
        }
    } else {
        ClientOptions {
            keep_alive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            ..ClientOptions::default()
        }
    }
}

/// The mailbox key of index `j` in this run.
pub(crate) fn mailbox_key(nonce: u64, j: u64) -> SigningKey {
    let mut seed = [0x48u8; 32];
    seed[..8].copy_from_slice(&nonce.to_be_bytes());
    seed[8..16].copy_from_slice(&j.to_be_bytes());
    SigningKey::from_bytes(&seed)
}

struct Slot {
    generation: u64,
    client: Option<Arc<Client>>,
}

/// One client connection, reconnected (and re-authenticated) on demand.
pub(crate) struct Conn {
    url: RelayUrl,
    options: ClientOptions,
    keys: Vec<SigningKey>,
    slot: Mutex<Slot>,
    /// The node (index of its `--relay-cmd`) this connection goes to.
    node: usize,
}

impl Conn {
    /// A connection to `url` (node 0) that authenticates `keys` whenever it connects.
    pub(crate) fn new(url: RelayUrl, options: ClientOptions, keys: Vec<SigningKey>) -> Conn {
        Conn {
            url,
            options,
            keys,
            slot: Mutex::new(Slot {
                generation: 0,
                client: None,
            }),
            node: 0,
        }
    }

    /// The client now connected, if any (taken: the next `get` reconnects).
    pub(crate) async fn slot_client(&self) -> Option<Arc<Client>> {
        self.slot.lock().await.client.take()
    }

    pub(crate) async fn get(&self) -> Result<(u64, Arc<Client>), ClientError> {
        let mut s = self.slot.lock().await;
        if let Some(c) = &s.client {
            return Ok((s.generation, c.clone()));
        }
        let c = Client::connect_with(&self.url, self.options.clone()).await?;
        for k in &self.keys {
            if let Err(e) = c.authenticate(k).await {
                c.connection().close(0u32.into(), b"auth failed");
                return Err(e);
            }
        }
        s.generation += 1;
        let c = Arc::new(c);
        s.client = Some(c.clone());
        Ok((s.generation, c))
    }

    /// One attempt of `op` on the connected client (connecting first when there is none). A
    /// transport error, connecting or in `op`, drops the connection so the next attempt
    /// reconnects; the caller decides whether and when to try again ([`retry_pause`]).
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, ClientError>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let (generation, client) = self.get().await?;
        let result = op(client).await;
        if let Err(e) = &result
            && transport(e)
        {
            self.invalidate(generation).await;
        }
        result
    }

    /// Drops the connection of `generation` (if still current) so the next `get` reconnects.
    pub(crate) async fn invalidate(&self, generation: u64) {
        let mut s = self.slot.lock().await;
        if s.generation == generation
            && let Some(c) = s.client.take()
        {
            c.connection().close(0u32.into(), b"reconnecting");
        }
    }
}

struct Shared {
    codec: Codec,
    tracker: Tracker,
    addrs: Vec<MailboxAddress>,
    schedule: Arc<Schedule>,
    recovery: Recovery,
}

async fn send_one(shared: &Shared, conn: &Conn, n: u64, sent_ns: u64) {
    let m = (n % shared.addrs.len() as u64) as usize;
    let addr = shared.addrs[m];
    let bytes = shared.codec.encode(n, m as u32, sent_ns);
    let id = match EnvelopeId::new(shared.codec.envelope_id(n)) {
        Ok(id) => id,
        Err(_) => return shared.tracker.error("envelope_id"),
    };
    loop {
        let sent = conn
            .call(|client| {
                let bytes = bytes.clone();
                let id = &id;
                async move { client.send(&addr, id, bytes).await }
            })
            .await;
        let pause = match sent {
            Ok(_) => {
                shared.recovery.receipt(conn.node);
                return shared.tracker.receipt(n);
            }
            Err(e) => {
                shared.tracker.error(&kind(&e));
                retry_pause(&e)
            }
        };
        if shared.schedule.giving_up() {
            return shared.tracker.abandon();
        }
        tokio::time::sleep(pause).await;
    }
}

/// Acknowledges (deletes) received envelopes of one mailbox, retrying across reconnects.
async fn acker(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    addr: MailboxAddress,
    mut rx: mpsc::UnboundedReceiver<Vec<u64>>,
) {
    while let Some(mut seqs) = rx.recv().await {
        while let Ok(more) = rx.try_recv() {
            seqs.extend(more);
        }
        for chunk in seqs.chunks(ACK_CHUNK) {
            let mut tries = 0;
            loop {
                tries += 1;
                match conn
                    .call(|client| async move { client.ack(&addr, chunk).await })
                    .await
                {
                    Ok(_) => break,
                    Err(e) => shared.tracker.error(&format!("ack_{}", kind(&e))),
                }
                if tries >= 50 {
                    break; // the envelopes stay until their TTL; nothing is lost
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Receives mailbox `j`: subscribes from its cursor, checks and records every envelope.
async fn receiver(
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    j: usize,
    ready: Arc<(AtomicUsize, Notify)>,
    mut done: watch::Receiver<bool>,
) {
    let addr = shared.addrs[j];
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let ack_task = tokio::spawn(acker(shared.clone(), conn.clone(), addr, ack_rx));
    let mut cursor = 0u64;
    let mut announced = false;
    'outer: while !*done.borrow() {
        let (generation, mut sub): (u64, MailboxSubscription) = match conn.get().await {
            Ok((generation, client)) => match client.subscribe(&addr, cursor).await {
                Ok(sub) => (generation, sub),
                Err(e) => {
                    shared.tracker.error(&format!("subscribe_{}", kind(&e)));
                    conn.invalidate(generation).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            Err(e) => {
                shared.tracker.error(&format!("subscribe_{}", kind(&e)));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                page = sub.next() => match page {
                    Ok(Some(page)) => {
                        if !announced {
                            announced = true;
                            ready.0.fetch_add(1, Ordering::SeqCst);
                            ready.1.notify_one();
                        }
                        let now = shared.schedule.now_ns();
                        let mut seqs = Vec::with_capacity(page.envelopes.len());
                        for env in &page.envelopes {
                            seqs.push(env.seq);
                            match shared.codec.decode(&env.ciphertext) {
                                Some(d)
                                    if d.mailbox as usize == j
                                        && env.envelope_id.as_bytes()
                                            == shared.codec.envelope_id(d.n).as_slice() =>
                                {
                                    let us = now.saturating_sub(d.sent_ns) / 1000;
                                    shared.tracker.delivery(d.n, env.seq, us);
                                }
                                _ => shared.tracker.corrupt(),
                            }
                        }
                        cursor = cursor.max(page.next_cursor);
                        if !seqs.is_empty() {
                            let _ = ack_tx.send(seqs);
                        }
                    }
                    Ok(None) => {
                        shared.tracker.error("subscription_ended");
                        conn.invalidate(generation).await;
                        continue 'outer;
                    }
                    Err(e) => {
                        shared.tracker.error(&format!("subscription_{}", kind(&e)));
                        if transport(&e) {
                            conn.invalidate(generation).await;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue 'outer;
                    }
                },
                _ = done.changed() => break 'outer,
            }
        }
    }
    drop(ack_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), ack_task).await;
}

/// Gives every mailbox `n` one-time prekeys and `n` KeyPackages (`--directory-stock`), 64
/// connections at a time; setup, not measured.
async fn stock_directories(conns: &[Arc<Conn>], n: usize) -> Result<()> {
    let gate = Arc::new(Semaphore::new(64));
    let mut set = JoinSet::new();
    for c in conns {
        let (c, gate) = (c.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let (_, client) = c.get().await?;
            for k in &c.keys {
                let a = MailboxAddress::from_public_key(&k.verifying_key());
                let prekeys = (0..n as u64)
                    .map(|id| OneTimePrekey {
                        id,
                        blob: vec![0x50; 33],
                    })
                    .collect();
                client.upload_prekeys(&a, None, prekeys).await?;
                // Distinct KeyPackages (the relay keeps one of each), of a typical size.
                let packages = (0..n as u32)
                    .map(|i| {
                        let mut kp = vec![0x4b; 300];
                        kp[..4].copy_from_slice(&i.to_be_bytes());
                        kp
                    })
                    .collect();
                client.upload_key_packages(&a, packages, None).await?;
            }
            Ok::<(), ClientError>(())
        });
    }
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("could not stock a mailbox's directory: {e}"),
            Err(e) => bail!("directory upload task failed: {e}"),
        }
    }
    Ok(())
}

fn sample(nodes: &Option<&mut Nodes>, pid: Option<u32>) -> Result<Option<Sample>> {
    match (nodes, pid) {
        (Some(n), _) => n.sample().map(Some),
        (None, Some(pid)) => crate::relay_proc::sample(pid).map(Some),
        (None, None) => Ok(None),
    }
}

/// Runs the workload against the nodes at `urls` (connection `c` goes to node `c % N`) and
/// returns what was measured.
pub(crate) async fn run(
    urls: Vec<RelayUrl>,
    load: &Load,
    mut nodes: Option<&mut Nodes>,
    relay_pid: Option<u32>,
) -> Result<Outcome> {
    let codec = Codec::new(load.size, load.verify).context("no randomness")?;
    let nonce = codec.nonce();
    let keys: Vec<SigningKey> = (0..load.mailboxes as u64)
        .map(|j| mailbox_key(nonce, j))
        .collect();
    let addrs = keys
        .iter()
        .map(|k| MailboxAddress::from_public_key(&k.verifying_key()))
        .collect();
    let options = client_options(load.crash_every.is_some() || !load.faults.is_empty());
    let conns: Vec<Arc<Conn>> = (0..load.connections)
        .map(|c| {
            let node = c % urls.len();
            let mine = keys
                .iter()
                .enumerate()
                .filter(|(j, _)| j % load.connections == c)
                .map(|(_, k)| k.clone())
                .collect();
            let mut conn = Conn::new(urls[node].clone(), options.clone(), mine);
            conn.node = node;
            Arc::new(conn)
        })
        .collect();
    let shared = Arc::new(Shared {
        codec,
        tracker: Tracker::new(load.verify)?,
        addrs,
        schedule: Arc::new(Schedule::new(load.count)),
        recovery: Recovery::new(urls.len(), Instant::now()),
    });

    // Connect everything first (64 handshakes at a time); setup is not measured.
    let gate = Arc::new(Semaphore::new(64));
    let mut set = JoinSet::new();
    for (i, c) in conns.iter().enumerate() {
        let (c, gate) = (c.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            c.get().await.map(|_| ()).map_err(|e| (i, e))
        });
    }
    while let Some(r) = set.join_next().await {
        if let Ok(Err((i, e))) = r {
            bail!("connection {i} could not connect and authenticate: {e}");
        }
    }
    if load.directory_stock > 0 {
        stock_directories(&conns, load.directory_stock).await?;
    }

    let ready = Arc::new((AtomicUsize::new(0), Notify::new()));
    let (done_tx, done_rx) = watch::channel(false);
    let mut receivers = JoinSet::new();
    for j in 0..load.mailboxes {
        receivers.spawn(receiver(
            shared.clone(),
            conns[j % load.connections].clone(),
            j,
            ready.clone(),
            done_rx.clone(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.0.load(Ordering::SeqCst) < load.mailboxes {
        if Instant::now() > deadline {
            bail!("subscriptions were not all live within 120 s");
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), ready.1.notified()).await;
    }
    let contention = match load.contend {
        true => Some(Contention::start(&urls, &options, nonce).await?),
        false => None,
    };

    let start_sample = sample(&nodes, relay_pid)?;
    let start = Instant::now();
    let mut senders = drive::spawn_senders(
        load,
        &shared.schedule,
        &shared,
        &conns,
        |shared: Arc<Shared>, conn: Arc<Conn>, n, t| async move { send_one(&shared, &conn, n, t).await },
    );

    // Run for the duration (or until the message count is sent), crashing the relay and
    // carrying out the faults on cue.
    let end = start + load.duration;
    let mut next_crash = load.crash_every.map(|d| start + d);
    let mut faults = load.faults.iter().peekable();
    let mut fault_log = Vec::new();
    if faults.peek().is_none() && !load.faults.is_empty() {
        shared.recovery.healed();
    }
    let mut crash_error = None;
    loop {
        if Instant::now() >= end || senders.is_empty() {
            break;
        }
        let next_fault = faults.peek().map(|f| start + f.at);
        let wake = [next_crash, next_fault, Some(end)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end);
        tokio::select! {
            _ = tokio::time::sleep_until(wake.into()) => {}
            r = senders.join_next() => {
                if r.is_none() {
                    break;
                }
                continue;
            }
        }
        let now = Instant::now();
        if let (Some(at), Some(every), Some(n)) =
            (next_crash, load.crash_every, nodes.as_deref_mut())
            && now >= at
            && now < end
        {
            if let Err(e) = n.crash_next().await {
                crash_error = Some(e);
                break;
            }
            next_crash = Some(Instant::now() + every);
        }
        while let Some(f) = faults.next_if(|f| start + f.at <= Instant::now()) {
            let Some(n) = nodes.as_deref_mut() else { break };
            let t = start.elapsed().as_secs_f64();
            let outcome = n.act(&f.action).await.err().map(|e| format!("{e:#}"));
            fault_log.push(json!({
                "at_s": t,
                "took_s": start.elapsed().as_secs_f64() - t,
                "action": f.action.to_string(),
                "error": outcome,
            }));
            if faults.peek().is_none() {
                shared.recovery.healed();
            }
        }
    }
    if let Some(e) = crash_error {
        return Err(e);
    }
    let send_end = drive::finish(load, &shared.schedule, &mut senders, &shared.tracker).await;
    let end_sample = sample(&nodes, relay_pid)?;
    let contend = match contention {
        Some(c) => Some(c.finish().await?),
        None => None,
    };
    let _ = done_tx.send(true);
    while receivers.join_next().await.is_some() {}
    let mut quic = crate::QuicTotals::default();
    for c in &conns {
        if let Some(client) = &c.slot.lock().await.client {
            quic.add(&client.connection().stats());
        }
    }
    for c in &conns {
        if let Some(client) = c.slot_client().await {
            client.close().await;
        }
    }
    Ok(Outcome {
        start,
        send_end,
        totals: shared.tracker.totals(),
        start_sample,
        end_sample,
        crashes: nodes.map_or(0, |n| n.crashes()),
        quic: Some(quic),
        faults: FaultReport {
            contend,
            log: fault_log,
            recovery_ms: shared.recovery.report(),
        },
    })
}
