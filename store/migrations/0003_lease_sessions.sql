-- 0003: a lease records its holder's session key (store/lease-session.ts). The holder's session
-- holds an advisory lock on (class "dply", holder_key) for as long as its connection lives;
-- a competitor that can take that lock knows the holder's session is gone and may take the
-- lease before it expires. NULL: released, or taken before this migration.
ALTER TABLE leases ADD COLUMN holder_key integer;

-- A process of an older deployer (during a rolling upgrade) changes the holder without knowing
-- of holder_key: the previous holder's key must not stay on the row, or the new holder — alive,
-- but not holding that key's lock — would look gone. A change of holder that leaves the key as it
-- was clears it (then only expiry frees the lease, as before).
CREATE FUNCTION leases_clear_stale_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.holder IS DISTINCT FROM OLD.holder AND NEW.holder_key IS NOT DISTINCT FROM OLD.holder_key THEN
    NEW.holder_key := NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER leases_clear_stale_key BEFORE UPDATE ON leases FOR EACH ROW EXECUTE FUNCTION leases_clear_stale_key();
