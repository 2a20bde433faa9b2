//! The same store-and-forward workload against NATS JetStream (`--nats URL`, feature `nats`).
//!
//! One file-backed work-queue stream per run, one subject per mailbox
//! (`hushbench.RUN.J`), one durable pull consumer per mailbox (explicit acks, so an
//! acknowledged message is deleted as in Hush), on connection `j % C`. A send is a JetStream
//! publish awaiting its PubAck (the message is stored; with the server's
//! `sync_interval: always` also fsync'd), carrying the envelope id as `Nats-Msg-Id` so a retry
//! is de-duplicated like a repeated Hush send. Latency is publish start to consumer receipt.
//! Whether the server syncs every write is its configuration, not this tool's: see
//! `scripts/bench-relay`, which runs it both ways.

use crate::drive::{self, Schedule};
use crate::payload::Codec;
use crate::relay_proc::{self, Sample};
use crate::tracker::Tracker;
use crate::{Load, Outcome, check_loopback};
use anyhow::{Context as _, Result, bail};
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_core::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

struct Shared {
    codec: Codec,
    tracker: Tracker,
    subjects: Vec<String>,
    schedule: Arc<Schedule>,
}

impl Shared {}

async fn send_one(shared: &Shared, js: &jetstream::Context, n: u64, sent_ns: u64) {
    let m = (n % shared.subjects.len() as u64) as usize;
    let payload = bytes::Bytes::from(shared.codec.encode(n, m as u32, sent_ns));
    let msg_id = hex::encode(shared.codec.envelope_id(n));
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id.as_str());
        let r = match js
            .publish_with_headers(shared.subjects[m].clone(), headers, payload.clone())
            .await
        {
            Ok(ack) => ack.await.map_err(|e| format!("nats_puback_{:?}", e.kind())),
            Err(e) => Err(format!("nats_publish_{:?}", e.kind())),
        };
        match r {
            Ok(_) => return shared.tracker.receipt(n),
            Err(kind) => shared.tracker.error(&kind.to_lowercase()),
        }
        if shared.schedule.giving_up() {
            return shared.tracker.abandon();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn consumer(
    shared: Arc<Shared>,
    js: jetstream::Context,
    stream_name: String,
    j: usize,
    ready: Arc<(AtomicUsize, Notify)>,
    mut done: watch::Receiver<bool>,
) -> Result<()> {
    // A busy server can time out JetStream API calls: a few tries before giving up.
    let mut tries = 0;
    let consumer = loop {
        tries += 1;
        let config = pull::Config {
            durable_name: Some(format!("mb{j}")),
            filter_subject: shared.subjects[j].clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        };
        match js.create_consumer_on_stream(config, &stream_name).await {
            Ok(c) => break c,
            Err(e) if tries >= 5 => bail!("cannot create consumer {j}: {e}"),
            Err(_) => {
                shared.tracker.error("nats_create_consumer");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let mut messages = Box::pin(
        consumer
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("cannot consume {j}: {e}"))?,
    );
    ready.0.fetch_add(1, Ordering::SeqCst);
    ready.1.notify_one();
    loop {
        let next = std::future::poll_fn(|cx| Pin::as_mut(&mut messages).poll_next(cx));
        let item = tokio::select! {
            item = next => item,
            _ = done.changed() => return Ok(()),
        };
        let msg = match item {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                shared
                    .tracker
                    .error(&format!("nats_consume_{:?}", e.kind()).to_lowercase());
                continue;
            }
            None => bail!("consumer {j} ended"),
        };
        let now = shared.schedule.now_ns();
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
        match shared.codec.decode(&msg.message.payload) {
            Some(d) if d.mailbox as usize == j => {
                shared
                    .tracker
                    .delivery(d.n, seq, now.saturating_sub(d.sent_ns) / 1000);
            }
            _ => shared.tracker.corrupt(),
        }
        if msg.ack().await.is_err() {
            shared.tracker.error("nats_ack");
        }
    }
}

/// Runs the workload against JetStream; returns the target name and what was measured.
pub(crate) async fn run(url: &str, load: &Load, pid: Option<u32>) -> Result<(String, Outcome)> {
    let host = url
        .strip_prefix("nats://")
        .context("--nats must be nats://HOST:PORT")?
        .rsplit_once(':')
        .map(|(h, _)| h)
        .context("--nats must be nats://HOST:PORT")?;
    check_loopback(host)?;
    if load.crash_every.is_some() {
        bail!("--crash-every is for the Hush relay only");
    }
    let codec = Codec::new(load.size, load.verify).context("no randomness")?;
    let run_id = format!("{:016x}", codec.nonce());
    let stream_name = format!("HUSHBENCH_{run_id}");
    let subjects = (0..load.mailboxes)
        .map(|j| format!("hushbench.{run_id}.{j}"))
        .collect();

    let mut contexts = Vec::with_capacity(load.connections);
    for i in 0..load.connections {
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("connection {i} to {url}"))?;
        contexts.push(jetstream::new(client));
    }
    let js = contexts[0].clone();
    js.create_stream(stream::Config {
        name: stream_name.clone(),
        subjects: vec![format!("hushbench.{run_id}.>")],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::WorkQueue,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("cannot create stream (is JetStream enabled?): {e}"))?;

    let shared = Arc::new(Shared {
        codec,
        tracker: Tracker::new(load.verify)?,
        subjects,
        schedule: Arc::new(Schedule::new(load.count)),
    });
    let result = drive(&shared, &contexts, &stream_name, load, pid).await;
    let _ = js.delete_stream(&stream_name).await;
    let (start, send_end, start_sample, end_sample) = result?;
    Ok((
        "nats-jetstream".into(),
        Outcome {
            start,
            send_end,
            totals: shared.tracker.totals(),
            start_sample,
            end_sample,
            crashes: 0,
            quic: None,
            faults: Default::default(),
        },
    ))
}

async fn drive(
    shared: &Arc<Shared>,
    contexts: &[jetstream::Context],
    stream_name: &str,
    load: &Load,
    pid: Option<u32>,
) -> Result<(Instant, Instant, Option<Sample>, Option<Sample>)> {
    let sample = || pid.map(relay_proc::sample).transpose();
    let ready = Arc::new((AtomicUsize::new(0), Notify::new()));
    let (done_tx, done_rx) = watch::channel(false);
    let mut consumers = JoinSet::new();
    for j in 0..load.mailboxes {
        consumers.spawn(consumer(
            shared.clone(),
            contexts[j % contexts.len()].clone(),
            stream_name.to_string(),
            j,
            ready.clone(),
            done_rx.clone(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.0.load(Ordering::SeqCst) < load.mailboxes {
        if Instant::now() > deadline {
            bail!("consumers were not all live within 120 s");
        }
        if let Some(Ok(Err(e))) = consumers.try_join_next() {
            return Err(e);
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), ready.1.notified()).await;
    }

    let start_sample = sample()?;
    let start = Instant::now();
    let mut senders = drive::spawn_senders(
        load,
        &shared.schedule,
        shared,
        contexts,
        |shared: Arc<Shared>, js: jetstream::Context, n, t| async move {
            send_one(&shared, &js, n, t).await
        },
    );
    drive::run_for(load, start, &mut senders).await;
    let send_end = drive::finish(load, &shared.schedule, &mut senders, &shared.tracker).await;
    let end_sample = sample()?;
    let _ = done_tx.send(true);
    while consumers.join_next().await.is_some() {}
    Ok((start, send_end, start_sample, end_sample))
}
