-- One INSERT of a 256-byte envelope and one counter UPDATE, in one transaction.
\set mb random(1, :mailboxes)
BEGIN;
UPDATE hush_mailboxes SET next_seq = next_seq + 1, envelope_count = envelope_count + 1,
    envelope_bytes = envelope_bytes + 256
  WHERE address = decode(lpad(to_hex(:mb), 64, '0'), 'hex') RETURNING next_seq - 1 AS seq \gset
INSERT INTO hush_envelopes (address, seq, envelope_id, stored_at_ms, expires_at_ms, ciphertext)
  VALUES (decode(lpad(to_hex(:mb), 64, '0'), 'hex'), :seq,
          decode(md5(random()::text) || md5(clock_timestamp()::text), 'hex'),
          0, 9000000000000, decode(repeat(md5(random()::text), 16), 'hex'));
COMMIT;
