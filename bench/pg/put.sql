-- The relay's SEND transaction: its own routine, with a fresh envelope id and 256 bytes.
\set mb random(1, :mailboxes)
SELECT o_outcome FROM hush_put_envelope_1(
    decode(lpad(to_hex(:mb), 64, '0'), 'hex'),
    decode(md5(random()::text) || md5(clock_timestamp()::text || :client_id), 'hex'),
    decode(md5(random()::text) || md5(random()::text), 'hex'),
    (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 9000000000000, 9000000000000,
    decode(repeat(md5(random()::text), 16), 'hex'), 1000000000, 1000000000000);
