//! `--contend`: alongside the load, the two promises that need the nodes to agree through
//! their shared database, raced from every node:
//!
//! - **one-time prekeys are handed out once**: a few directory mailboxes are stocked (and
//!   topped up by their owner as they run low, with fresh ids on every upload attempt); a
//!   taker on every node takes bundles from each of them; no id may come out twice, and every
//!   id that comes out must have been uploaded;
//! - **one commit per group epoch**: on every node a committer per group appends commits
//!   for the epoch it believes current (a retry after a transport error repeats the same bytes
//!   for the same epoch; a conflict moves it to the epoch the relay names); at the end the
//!   group log may hold at most one commit per epoch, and every acknowledged commit must be
//!   in it at its epoch.

use crate::hush::{Conn, kind, mailbox_key, transport};
use anyhow::{Result, bail};
use hush_relay_client::{
    ClientError, ClientOptions, GroupId, GroupMessageKind, MailboxAddress, OneTimePrekey, RelayUrl,
    SignedPrekey,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Directory mailboxes raced for.
const DIRECTORIES: u64 = 2;
/// Groups raced for.
const GROUPS: usize = 2;
/// Prekeys per upload; the owner tops up below this many.
const BATCH: u64 = 200;
/// Pause between one taker's takes, and between one committer's commits.
const TAKE_PAUSE: Duration = Duration::from_millis(10);
const COMMIT_PAUSE: Duration = Duration::from_millis(20);
/// Mailbox indexes of the directory mailboxes (far from the load's).
const DIRECTORY_BASE: u64 = 1 << 40;

#[derive(Default)]
struct Record {
    /// Per directory mailbox: every one-time prekey id taken, in the order seen.
    taken: HashMap<u64, Vec<u64>>,
    /// Per directory mailbox: ids below this were uploaded (or attempted).
    uploaded_below: HashMap<u64, u64>,
    /// Per group: acknowledged commits (epoch, bytes).
    acknowledged: HashMap<usize, Vec<(u64, Vec<u8>)>>,
    errors: BTreeMap<String, u64>,
}

impl Record {
    fn error(&mut self, what: &str, e: &ClientError) {
        *self
            .errors
            .entry(format!("{what}_{}", kind(e)))
            .or_default() += 1;
    }
}

/// The racers, running until [`Contention::finish`].
pub(crate) struct Contention {
    record: Arc<Mutex<Record>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    groups: Vec<GroupId>,
    checker: Arc<Conn>,
    nonce: u64,
}

fn group_id(nonce: u64, g: usize) -> Result<GroupId> {
    GroupId::new(format!("contend-{nonce:016x}-{g}").into_bytes())
        .map_err(|e| anyhow::anyhow!("group id: {e}"))
}

/// Retries `op` on `conn` until it succeeds, reconnecting after transport errors; gives up
/// (with the last error) after `tries`.
async fn with_retry<T, F, Fut>(
    conn: &Conn,
    record: &Mutex<Record>,
    what: &str,
    tries: u32,
    mut op: F,
) -> Result<T, ClientError>
where
    F: FnMut(Arc<hush_relay_client::Client>) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut last = ClientError::Timeout;
    for _ in 0..tries {
        match conn.call(&mut op).await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if let Ok(mut r) = record.lock() {
                    r.error(what, &e);
                }
                last = e;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(last)
}

/// Uploads the next `BATCH` ids of directory mailbox `d` (fresh ids on every attempt, so an
/// upload that was stored but whose answer was lost never repeats an id).
async fn top_up(conn: &Conn, record: &Mutex<Record>, d: u64, addr: MailboxAddress, signed: bool) {
    for _ in 0..50 {
        let from = {
            let Ok(mut r) = record.lock() else { return };
            let below = r.uploaded_below.entry(d).or_default();
            let from = *below;
            *below += BATCH;
            from
        };
        let prekeys: Vec<OneTimePrekey> = (from..from + BATCH)
            .map(|id| OneTimePrekey {
                id,
                blob: vec![0x50; 33],
            })
            .collect();
        let spk = signed.then(|| SignedPrekey {
            id: 1,
            blob: vec![0x53; 96],
        });
        let r = with_retry(conn, record, "contend_upload", 1, |c| {
            let (spk, prekeys) = (spk.clone(), prekeys.clone());
            async move { c.upload_prekeys(&addr, spk, prekeys).await }
        })
        .await;
        if r.is_ok() {
            return;
        }
    }
}

impl Contention {
    /// Stocks the directory mailboxes (through node 0) and starts the racers on every node.
    pub(crate) async fn start(
        urls: &[RelayUrl],
        options: &ClientOptions,
        nonce: u64,
    ) -> Result<Contention> {
        let record = Arc::new(Mutex::new(Record::default()));
        let (stop, stopped) = watch::channel(false);
        let keys: Vec<_> = (0..DIRECTORIES)
            .map(|d| mailbox_key(nonce, DIRECTORY_BASE + d))
            .collect();
        let addrs: Vec<MailboxAddress> = keys
            .iter()
            .map(|k| MailboxAddress::from_public_key(&k.verifying_key()))
            .collect();
        let owner = Arc::new(Conn::new(urls[0].clone(), options.clone(), keys));
        if let Err(e) = owner.get().await {
            bail!("--contend: the directory owner could not connect: {e}");
        }
        for (d, addr) in addrs.iter().enumerate() {
            top_up(&owner, &record, d as u64, *addr, true).await;
        }
        let mut tasks = JoinSet::new();
        // The owner keeps each directory stocked.
        for (d, addr) in addrs.iter().enumerate() {
            let (owner, record, mut stopped, addr) =
                (owner.clone(), record.clone(), stopped.clone(), *addr);
            tasks.spawn(async move {
                while !*stopped.borrow() {
                    let stock = with_retry(&owner, &record, "contend_stock", 1, |c| async move {
                        c.directory_stock(&addr).await
                    })
                    .await;
                    if let Ok(s) = stock
                        && s.one_time_prekeys < BATCH
                    {
                        top_up(&owner, &record, d as u64, addr, false).await;
                    }
                    pause(&mut stopped, Duration::from_millis(100)).await;
                }
            });
        }
        let groups = (0..GROUPS)
            .map(|g| group_id(nonce, g))
            .collect::<Result<Vec<_>>>()?;
        for (node, url) in urls.iter().enumerate() {
            let conn = Arc::new(Conn::new(url.clone(), options.clone(), Vec::new()));
            for (d, addr) in addrs.iter().enumerate() {
                let (conn, record, stopped, addr) =
                    (conn.clone(), record.clone(), stopped.clone(), *addr);
                tasks.spawn(taker(conn, record, stopped, d as u64, addr));
            }
            for (g, group) in groups.iter().enumerate() {
                let (conn, record, stopped, group) =
                    (conn.clone(), record.clone(), stopped.clone(), group.clone());
                tasks.spawn(committer(conn, record, stopped, node, g, group, nonce));
            }
        }
        let checker = Arc::new(Conn::new(urls[0].clone(), options.clone(), Vec::new()));
        Ok(Contention {
            record,
            stop,
            tasks,
            groups,
            checker,
            nonce,
        })
    }

    /// Stops the racers, reads the group logs back and reports what the checks found.
    pub(crate) async fn finish(mut self) -> Result<serde_json::Value> {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let record = std::mem::take(&mut *self.record.lock().map_err(|_| poisoned())?);

        let mut taken = 0u64;
        let mut taken_twice = 0u64;
        let mut never_uploaded = 0u64;
        for (d, ids) in &record.taken {
            let below = record.uploaded_below.get(d).copied().unwrap_or(0);
            let mut seen = std::collections::HashSet::new();
            for id in ids {
                taken += 1;
                if !seen.insert(*id) {
                    taken_twice += 1;
                }
                if *id >= below {
                    never_uploaded += 1;
                }
            }
        }

        let mut commits = 0u64;
        let mut epochs_with_two = 0u64;
        let mut epoch_gaps = 0u64;
        let mut missing = 0u64;
        let mut foreign = 0u64;
        let tag = format!("{:016x}-", self.nonce);
        let record_lock = Mutex::new(Record::default());
        for (g, group) in self.groups.iter().enumerate() {
            let mut by_epoch: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
            let mut cursor = 0u64;
            loop {
                let page = with_retry(&self.checker, &record_lock, "check", 100, |c| {
                    let group = group.clone();
                    async move { c.group_fetch(&group, cursor, 500).await }
                })
                .await
                .map_err(|e| anyhow::anyhow!("--contend: cannot read group log {g}: {e}"))?;
                let n = page.entries.len();
                for e in page.entries {
                    if e.kind == GroupMessageKind::Commit {
                        if !e.message.starts_with(tag.as_bytes()) {
                            foreign += 1;
                        }
                        by_epoch.entry(e.epoch).or_default().push(e.message);
                    }
                }
                if n == 0 || page.next_cursor <= cursor {
                    break;
                }
                cursor = page.next_cursor;
            }
            for (i, (epoch, msgs)) in by_epoch.iter().enumerate() {
                commits += msgs.len() as u64;
                if msgs.len() > 1 {
                    epochs_with_two += 1;
                }
                if *epoch != i as u64 {
                    epoch_gaps += 1;
                }
            }
            for (epoch, body) in record.acknowledged.get(&g).into_iter().flatten() {
                if !by_epoch.get(epoch).is_some_and(|m| m.contains(body)) {
                    missing += 1;
                }
            }
        }
        if let Some(c) = self.checker.slot_client().await {
            c.close().await;
        }
        let acknowledged: usize = record.acknowledged.values().map(Vec::len).sum();
        Ok(json!({
            "prekeys_uploaded": record.uploaded_below.values().sum::<u64>(),
            "prekeys_taken": taken,
            "prekeys_taken_twice": taken_twice,
            "prekeys_never_uploaded": never_uploaded,
            "commits_acknowledged": acknowledged,
            "commits_in_logs": commits,
            "epochs_with_two_commits": epochs_with_two,
            "epoch_gaps": epoch_gaps,
            "acknowledged_commits_missing": missing,
            "foreign_commits": foreign,
            "errors_by_kind": record.errors,
        }))
    }
}

/// Sleeps for `d`, or less if the racers are told to stop.
async fn pause(stopped: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stopped.changed() => {}
    }
}

fn poisoned() -> anyhow::Error {
    anyhow::anyhow!("--contend: a racer panicked")
}

/// Whether the checks of a `--contend` report found a broken promise.
pub(crate) fn failed(v: &serde_json::Value) -> bool {
    let bad = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0) > 0;
    [
        "prekeys_taken_twice",
        "prekeys_never_uploaded",
        "epochs_with_two_commits",
        "epoch_gaps",
        "acknowledged_commits_missing",
        "foreign_commits",
    ]
    .iter()
    .any(|k| bad(k))
}

async fn taker(
    conn: Arc<Conn>,
    record: Arc<Mutex<Record>>,
    mut stopped: watch::Receiver<bool>,
    d: u64,
    addr: MailboxAddress,
) {
    while !*stopped.borrow() {
        let r = with_retry(&conn, &record, "contend_take", 1, |c| async move {
            c.fetch_prekey_bundle(&addr).await
        })
        .await;
        if let Ok(bundle) = r
            && let Some(k) = bundle.one_time_prekey
            && let Ok(mut rec) = record.lock()
        {
            rec.taken.entry(d).or_default().push(k.id);
        }
        pause(&mut stopped, TAKE_PAUSE).await;
    }
}

async fn committer(
    conn: Arc<Conn>,
    record: Arc<Mutex<Record>>,
    mut stopped: watch::Receiver<bool>,
    node: usize,
    g: usize,
    group: GroupId,
    nonce: u64,
) {
    let mut epoch = 0u64;
    let mut counter = 0u64;
    let mut body = Vec::new();
    let mut fresh = true;
    while !*stopped.borrow() {
        if fresh {
            body = format!("{nonce:016x}-n{node}-g{g}-{counter}").into_bytes();
            counter += 1;
        }
        fresh = true;
        match conn.get().await {
            Ok((generation, c)) => {
                match c
                    .group_append(
                        &group,
                        epoch,
                        GroupMessageKind::Commit,
                        body.clone(),
                        vec![],
                    )
                    .await
                {
                    Ok(r) => {
                        if let Ok(mut rec) = record.lock() {
                            rec.acknowledged
                                .entry(g)
                                .or_default()
                                .push((epoch, body.clone()));
                        }
                        epoch = r.current_epoch;
                    }
                    Err(e) => {
                        if let Ok(mut rec) = record.lock() {
                            rec.error("contend_commit", &e);
                        }
                        if let Some(current) = e.epoch_conflict() {
                            epoch = current;
                        } else if transport(&e) {
                            conn.invalidate(generation).await;
                            fresh = false; // the same bytes for the same epoch
                        } else {
                            fresh = false;
                        }
                    }
                }
            }
            Err(e) => {
                if let Ok(mut rec) = record.lock() {
                    rec.error("contend_commit", &e);
                }
                fresh = false;
            }
        }
        pause(&mut stopped, COMMIT_PAUSE).await;
    }
}
