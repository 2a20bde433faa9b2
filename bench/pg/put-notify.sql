-- What the relay sends for one SEND: its routine, then the wake-up of the other nodes in a
-- transaction of its own.
\set mb random(1, :mailboxes)
SELECT o_outcome FROM hush_put_envelope_1(
    decode(lpad(to_hex(:mb), 64, '0'), 'hex'),
    decode(md5(random()::text) || md5(clock_timestamp()::text || :client_id), 'hex'),
    decode(md5(random()::text) || md5(random()::text), 'hex'),
    (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 9000000000000, 9000000000000,
    decode(repeat(md5(random()::text), 16), 'hex'), 1000000000, 1000000000000);
SELECT pg_notify('hush_wake', 'm' || lpad(to_hex(:mb), 64, '0'));
