//! The state generation on PostgreSQL (table `hush_generations`, migration 3).
//!
//! The compare-and-set is one transaction: make sure the mailbox's row exists (`INSERT ..
//! ON CONFLICT DO NOTHING`, at 0), lock it and read it (`SELECT .. FOR UPDATE`, which in READ
//! COMMITTED answers the newest committed value once the lock is ours), and update it only if
//! it holds `expected`. Concurrent requests for one mailbox through any nodes serialize on
//! the row lock, so at most one of two requests with the same `expected` succeeds, and the
//! other is told the winner's value. Generations are client-chosen `u64`s, stored flipped
//! ([`flip`]).

use super::*;

impl PgStorage {
    pub(super) async fn generation_pg(&self, mailbox: MailboxAddress) -> Result<u64, StorageError> {
        let a = mailbox.0.as_slice();
        let row = on_client!(self, "read generation", |c| query_opt(
            &c,
            "SELECT generation FROM hush_generations WHERE address = $1",
            &[&a]
        ))?;
        Ok(row.map(|r| unflip(r.get(0))).unwrap_or(0))
    }

    pub(super) async fn advance_generation_pg(
        &self,
        mailbox: MailboxAddress,
        expected: u64,
        next: u64,
    ) -> Result<GenerationOutcome, StorageError> {
        let a = mailbox.0.as_slice();
        in_tx!(self, "advance generation", |tx| cas_tx(
            &tx, a, expected, next
        ))
    }
}

async fn cas_tx(
    tx: &Tx<'_>,
    a: &[u8],
    expected: u64,
    next: u64,
) -> Result<GenerationOutcome, Fail> {
    execute(
        tx,
        "INSERT INTO hush_generations (address, generation) VALUES ($1, $2)
         ON CONFLICT (address) DO NOTHING",
        &[&a, &flip(0)],
    )
    .await?;
    let row = query_one(
        tx,
        "SELECT generation FROM hush_generations WHERE address = $1 FOR UPDATE",
        &[&a],
    )
    .await?;
    let current = unflip(row.get(0));
    if current != expected {
        return Ok(GenerationOutcome {
            current,
            advanced: false,
        });
    }
    execute(
        tx,
        "UPDATE hush_generations SET generation = $2 WHERE address = $1",
        &[&a, &flip(next)],
    )
    .await?;
    Ok(GenerationOutcome {
        current: next,
        advanced: true,
    })
}
