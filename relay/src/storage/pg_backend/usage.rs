//! Storage usage on PostgreSQL: one statement (so one snapshot) that sums the mailbox
//! counters (`hush_mailboxes`, one row per mailbox) and the lengths of the group log entries
//! and directory blobs. Nothing is written: no counter row is updated by the sends, so the
//! measurement costs nothing on the write path (spec/relay-protocol.md §5, "Relay-wide
//! storage cap").

use super::*;

const USAGE_SQL: &str = "SELECT
    (SELECT coalesce(sum(envelope_count), 0)::bigint FROM hush_mailboxes),
    (SELECT coalesce(sum(envelope_bytes), 0)::bigint FROM hush_mailboxes),
    (SELECT count(*) FROM hush_group_log),
    (SELECT coalesce(sum(octet_length(message)), 0)::bigint FROM hush_group_log),
    (SELECT count(*) FROM hush_signed_prekeys)
      + (SELECT count(*) FROM hush_one_time_prekeys)
      + (SELECT count(*) FROM hush_key_packages)
      + (SELECT count(*) FROM hush_last_resort_key_packages)
      + (SELECT count(*) FROM hush_one_time_kem_prekeys)
      + (SELECT count(*) FROM hush_last_resort_kem_prekeys),
    (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_signed_prekeys)
      + (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_one_time_prekeys)
      + (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_key_packages)
      + (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_last_resort_key_packages)
      + (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_one_time_kem_prekeys)
      + (SELECT coalesce(sum(octet_length(blob)), 0)::bigint FROM hush_last_resort_kem_prekeys)";

impl PgStorage {
    pub(super) async fn usage_pg(&self) -> Result<StorageUsage, StorageError> {
        let row = on_client!(self, "storage usage", |c| query_one(&c, USAGE_SQL, &[]))?;
        let n = |i: usize| -> u64 { to_u(row.get::<_, i64>(i)) };
        Ok(StorageUsage {
            envelopes: n(0),
            envelope_bytes: n(1),
            group_entries: n(2),
            group_bytes: n(3),
            directory_entries: n(4),
            directory_bytes: n(5),
        })
    }
}
