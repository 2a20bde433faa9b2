-- The directory stock of a random mailbox as the relay reads it since schema 6: its counters.
\set m random(1, 100)
SELECT coalesce(d.one_time_prekeys, 0), coalesce(d.key_packages, 0),
            coalesce(d.signed_prekeys, 0) > 0, coalesce(d.last_resort_key_packages, 0) > 0,
            coalesce(d.one_time_kem_prekeys, 0), coalesce(d.last_resort_kem_prekeys, 0) > 0
         FROM (SELECT) AS one LEFT JOIN hush_directories d ON d.address = int8send(:m);
