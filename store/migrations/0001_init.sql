-- deployer's schema: resources, the append-only event log, leases, API tokens.

-- The global revision. Every write bumps this one row inside its transaction, so the row
-- lock is held until commit: revisions are handed out and become visible in commit order,
-- and a rolled-back write rolls the counter back (no gaps from failed writes).
CREATE TABLE revision_counter (
  id int PRIMARY KEY CHECK (id = 1),
  revision bigint NOT NULL
);
INSERT INTO revision_counter VALUES (1, 0);

CREATE TABLE resources (
  kind text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  uid uuid NOT NULL UNIQUE,
  revision bigint NOT NULL,
  generation bigint NOT NULL,
  metadata jsonb NOT NULL,          -- without resourceVersion: the revision column is the truth
  spec jsonb NOT NULL,              -- the body: spec, or a flat kind's top-level fields
  status jsonb,
  deletion_timestamp timestamptz,
  owner_uids uuid[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (kind, namespace, name)
);
CREATE INDEX resources_owner_uids ON resources USING gin (owner_uids);
CREATE INDEX resources_kind_revision ON resources (kind, revision);

-- Append-only: one row per committed change, with the object as it was after the change
-- (for DELETED, as it was when it went). Compaction removes only rows that a newer row of
-- the same object at or below the compacted revision supersedes.
CREATE TABLE events_log (
  revision bigint PRIMARY KEY,
  kind text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  type text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
  object jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_log_key ON events_log (kind, namespace, name, revision);

-- The newest revision whose history may be gone: watches and continue tokens from before
-- it get 410 Expired.
CREATE TABLE compaction (
  id int PRIMARY KEY CHECK (id = 1),
  revision bigint NOT NULL
);
INSERT INTO compaction VALUES (1, 0);

-- The doorbell: the revision only, sent in the writing transaction (delivered at commit).
CREATE FUNCTION deployer_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deployer_events', NEW.revision::text);
  RETURN NULL;
END $$;
CREATE TRIGGER events_log_notify AFTER INSERT ON events_log
  FOR EACH ROW EXECUTE FUNCTION deployer_notify_event();

-- One write, in one statement: lock the row (checking the expected revision), take the next
-- revision, write the row, append the event. Returns the new revision, or -1 when the row is
-- missing or its revision is not p_expected (the caller re-reads and decides).
-- p_type: ADDED inserts (a duplicate raises unique_violation), MODIFIED updates,
-- DELETED removes the row.
CREATE FUNCTION deployer_write(
  p_kind text, p_namespace text, p_name text, p_expected bigint, p_type text,
  p_uid uuid, p_generation bigint, p_metadata jsonb, p_spec jsonb, p_status jsonb,
  p_deletion timestamptz, p_owner_uids uuid[], p_object jsonb
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  cur bigint;
  rev bigint;
BEGIN
  IF p_type <> 'ADDED' THEN
    SELECT revision INTO cur FROM resources
      WHERE kind = p_kind AND namespace = p_namespace AND name = p_name FOR UPDATE;
    IF NOT FOUND OR cur <> p_expected THEN
      RETURN -1;
    END IF;
  END IF;
  UPDATE revision_counter SET revision = revision + 1 WHERE id = 1 RETURNING revision INTO rev;
  IF p_type = 'ADDED' THEN
    INSERT INTO resources (kind, namespace, name, uid, revision, generation, metadata, spec, status, deletion_timestamp, owner_uids)
      VALUES (p_kind, p_namespace, p_name, p_uid, rev, p_generation, p_metadata, p_spec, p_status, p_deletion, p_owner_uids);
  ELSIF p_type = 'MODIFIED' THEN
    UPDATE resources SET revision = rev, generation = p_generation, metadata = p_metadata, spec = p_spec,
        status = p_status, deletion_timestamp = p_deletion, owner_uids = p_owner_uids
      WHERE kind = p_kind AND namespace = p_namespace AND name = p_name;
  ELSE
    DELETE FROM resources WHERE kind = p_kind AND namespace = p_namespace AND name = p_name;
  END IF;
  INSERT INTO events_log (revision, kind, namespace, name, type, object)
    VALUES (rev, p_kind, p_namespace, p_name, p_type, p_object);
  RETURN rev;
END $$;

-- Leader election: one row per controller. `token` (the fencing token) goes up on every
-- change of holder; expiry is computed by Postgres' clock only.
CREATE TABLE leases (
  name text PRIMARY KEY,
  holder text,
  token bigint NOT NULL DEFAULT 0,
  acquired_at timestamptz,
  renewed_at timestamptz,
  expires_at timestamptz
);

-- API tokens, stored as SHA-256 of the secret (secrets are random, 256 bits).
CREATE TABLE api_tokens (
  name text PRIMARY KEY,
  role text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
  namespaces text[] NOT NULL DEFAULT '{}',
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION deployer_notify_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deployer_tokens', '');
  RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_notify AFTER INSERT OR UPDATE OR DELETE ON api_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION deployer_notify_tokens();
