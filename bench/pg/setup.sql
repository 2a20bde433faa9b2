-- The mailbox rows the scripts write to (addresses 1..:mailboxes as 32-byte big-endian).
INSERT INTO hush_mailboxes (address, next_seq, envelope_count, envelope_bytes)
SELECT decode(lpad(to_hex(n), 64, '0'), 'hex'), 1, 0, 0 FROM generate_series(1, :mailboxes) AS n
ON CONFLICT (address) DO NOTHING;
