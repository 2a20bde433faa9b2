//! recv: fetch, decrypt, save, print, ack; optionally keep listening.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use hush_relay_client::{ClientError, MailboxAddress, RelayUrl};
use hush_relay_client::{Envelope, FetchResult, GroupFetchResult};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::{Engine, print_item, relay_group_id};
use crate::home::Home;
use crate::net;
use crate::state::InboxItem;

enum Push {
    Mailbox(Result<Option<FetchResult>, ClientError>),
    Group(String, Result<Option<GroupFetchResult>, ClientError>),
}

fn show(items: &[InboxItem], json: bool) {
    for i in items {
        print_item(i, json);
        if !json
            && i.event == "message"
            && i.from.len() == 64
            && i.from.chars().all(|c| c.is_ascii_hexdigit())
        {
            eprintln!(
                "hush: {} is not a contact; to answer: hush contact add ALIAS {}",
                &i.from[..16],
                i.from
            );
        }
    }
    let _ = std::io::stdout().flush();
}

/// `hush recv`.
pub async fn recv(dir: &Path, wait: Option<u64>, json: bool) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let mut e = Engine::new(l)?;
    let url = e.l.state.relay_url()?;
    let mailbox = e.home_client().await?;

    // Messages decrypted by earlier group commands.
    let pending = std::mem::take(&mut e.l.state.inbox);
    if !pending.is_empty() {
        show(&pending, json);
        e.save()?;
    }

    let mut cursor = 0;
    let mut stock = None;
    for _ in 0..100_000 {
        let page = e
            .client(&url)
            .await?
            .fetch(&mailbox, cursor, 0)
            .await
            .map_err(net::err("cannot fetch messages"))?;
        stock = Some(page.stock);
        if page.envelopes.is_empty() {
            break;
        }
        mailbox_page(&mut e, &url, &mailbox, &page.envelopes, json).await?;
        if page.next_cursor <= cursor {
            break;
        }
        cursor = page.next_cursor;
    }
    sync_groups(&mut e, json).await?;
    if let Some(stock) = stock {
        e.replenish(&mailbox, &stock).await?;
    }
    if let Some(secs) = wait {
        let r = listen(&mut e, &url, &mailbox, cursor, secs, json).await;
        e.close().await;
        return r;
    }
    e.close().await;
    Ok(())
}

/// Decrypts a page, shows it, saves, then acks it.
async fn mailbox_page(
    e: &mut Engine,
    url: &RelayUrl,
    mailbox: &MailboxAddress,
    envelopes: &[Envelope],
    json: bool,
) -> Result<()> {
    let items = e.open_envelopes(envelopes);
    show(&items, json);
    e.save()?;
    let seqs: Vec<u64> = envelopes.iter().map(|x| x.seq).collect();
    e.client(url)
        .await?
        .ack(mailbox, &seqs)
        .await
        .map_err(net::err("cannot acknowledge messages"))?;
    Ok(())
}

async fn sync_groups(e: &mut Engine, json: bool) -> Result<()> {
    let names: Vec<String> = active_groups(e);
    for name in names {
        let items = e.sync_group(&name).await?;
        show(&items, json);
        e.save()?;
    }
    Ok(())
}

fn active_groups(e: &Engine) -> Vec<String> {
    e.l.state
        .groups
        .iter()
        .filter(|(_, g)| g.active && !g.rejoin)
        .map(|(n, _)| n.clone())
        .collect()
}

async fn subscribe_group(
    e: &mut Engine,
    name: &str,
    tx: &mpsc::Sender<Push>,
) -> Result<JoinHandle<()>> {
    let (rec, _) = e.group(name)?;
    let relay: RelayUrl = rec
        .relay
        .parse()
        .map_err(|err| anyhow!("stored group relay is invalid: {err}"))?;
    let rid = relay_group_id(&rec)?;
    let mut sub = e
        .client(&relay)
        .await?
        .group_subscribe(&rid, rec.cursor)
        .await
        .map_err(net::err("cannot follow the group log"))?;
    let tx = tx.clone();
    let name = name.to_string();
    Ok(tokio::spawn(async move {
        loop {
            let r = sub.next().await;
            let more = matches!(r, Ok(Some(_)));
            if tx.send(Push::Group(name.clone(), r)).await.is_err() || !more {
                break;
            }
        }
    }))
}

/// Keeps the connections open and handles pushes until `secs` pass.
async fn listen(
    e: &mut Engine,
    url: &RelayUrl,
    mailbox: &MailboxAddress,
    cursor: u64,
    secs: u64,
    json: bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let (tx, mut rx) = mpsc::channel::<Push>(64);
    let mut tasks = Vec::new();
    let mut sub = e
        .client(url)
        .await?
        .subscribe(mailbox, cursor)
        .await
        .map_err(net::err("cannot follow the mailbox"))?;
    let mtx = tx.clone();
    tasks.push(tokio::spawn(async move {
        loop {
            let r = sub.next().await;
            let more = matches!(r, Ok(Some(_)));
            if mtx.send(Push::Mailbox(r)).await.is_err() || !more {
                break;
            }
        }
    }));
    let mut followed: BTreeSet<String> = BTreeSet::new();
    for name in active_groups(e) {
        tasks.push(subscribe_group(e, &name, &tx).await?);
        followed.insert(name);
    }
    // Other commands (`card`, `send`, `status`, …) may use the home while we wait; each push
    // is handled with the home locked again and the state re-read.
    let result = loop {
        e.release();
        let push = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break Ok(()),
            p = rx.recv() => p,
        };
        if let Err(err) = e.reacquire() {
            break Err(err);
        }
        match push {
            None => break Ok(()),
            Some(Push::Mailbox(Ok(Some(page)))) => {
                if !page.envelopes.is_empty() {
                    mailbox_page(e, url, mailbox, &page.envelopes, json).await?;
                    e.replenish(mailbox, &page.stock).await?;
                }
                // Groups joined by a Welcome just now: catch up, then follow.
                for name in active_groups(e) {
                    if followed.insert(name.clone()) {
                        let items = e.sync_group(&name).await?;
                        show(&items, json);
                        e.save()?;
                        tasks.push(subscribe_group(e, &name, &tx).await?);
                    }
                }
            }
            Some(Push::Mailbox(Ok(None))) => {
                break Err(anyhow!("the relay ended the mailbox subscription"));
            }
            Some(Push::Mailbox(Err(err))) => {
                break Err(anyhow!("lost the relay: {}", net::describe(&err)));
            }
            Some(Push::Group(name, Ok(Some(page)))) => {
                let items = e.apply_group_entries(&name, &page.entries);
                show(&items, json);
                e.save()?;
            }
            Some(Push::Group(name, Ok(None))) => {
                eprintln!("hush: warning: the relay stopped sending group {name}");
            }
            Some(Push::Group(name, Err(err))) => {
                eprintln!("hush: warning: lost group {name}: {}", net::describe(&err));
            }
        }
    };
    for t in tasks {
        t.abort();
    }
    result
}
