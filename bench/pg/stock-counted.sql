-- The directory stock of a random mailbox as the relay read it before schema 6: counted.
\set m random(1, 100)
SELECT (SELECT count(*) FROM hush_one_time_prekeys WHERE address = int8send(:m)),
            (SELECT count(*) FROM hush_key_packages WHERE address = int8send(:m)),
            EXISTS (SELECT 1 FROM hush_signed_prekeys WHERE address = int8send(:m)),
            EXISTS (SELECT 1 FROM hush_last_resort_key_packages WHERE address = int8send(:m)),
            (SELECT count(*) FROM hush_one_time_kem_prekeys WHERE address = int8send(:m)),
            EXISTS (SELECT 1 FROM hush_last_resort_kem_prekeys WHERE address = int8send(:m));
