-- 100 mailboxes with 100 one-time prekeys, KeyPackages and one-time KEM prekeys each and a
-- signed prekey, on a database a relay of schema 6 or later has migrated (the triggers set
-- the counters). For stock-counted.sql and stock-counters.sql.
INSERT INTO hush_directories (address) SELECT int8send(m) FROM generate_series(1,100) m;
INSERT INTO hush_one_time_prekeys SELECT int8send(m), i, 'x' FROM generate_series(1,100) m, generate_series(1,100) i;
INSERT INTO hush_key_packages SELECT int8send(m), int8send(i), 'x' FROM generate_series(1,100) m, generate_series(1,100) i;
INSERT INTO hush_one_time_kem_prekeys SELECT int8send(m), i, 'x' FROM generate_series(1,100) m, generate_series(1,100) i;
INSERT INTO hush_signed_prekeys SELECT int8send(m), 1, 'x' FROM generate_series(1,100) m;
VACUUM ANALYZE;
