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
  -- labels before a MODIFIED change: a watch with a label selector turns a change that moves
  -- an object out of (into) its selection into DELETED (ADDED), as Kubernetes does
  prev_labels jsonb,
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

-- Writes, in batches: one statement, one transaction, one disk flush for every write that
-- arrived while the previous batch was committing (group commit). Each element of p_writes:
-- {kind, namespace, name, type, expected, uid, generation, metadata, spec, status,
--  deletion, owner_uids, object}. type ADDED inserts, MODIFIED updates, DELETED removes.
-- Returns one number per element, in order: the new revision, or -1 when the row is missing
-- or its revision is not `expected`, or -2 when an ADDED row exists already (the caller
-- re-reads and decides), or -3 when the write is fenced (fence_lease/fence_token no longer
-- hold the lease). Ends with one NOTIFY carrying the newest revision (the doorbell).
CREATE FUNCTION deployer_write_batch(p_writes jsonb) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  w jsonb;
  first_rev bigint;
  rev bigint;
  cur bigint;
  prev jsonb;
  out bigint[] := '{}';
  k text;
  ns text;
  nm text;
  typ text;
BEGIN
  -- Every writer queues here first. The counter row's lock is held to commit, so revisions
  -- are handed out, and become visible, in commit order; and since nobody locks a resource
  -- row without holding it, the checks below cannot race and no two writers deadlock.
  SELECT revision INTO first_rev FROM revision_counter WHERE id = 1 FOR UPDATE;
  rev := first_rev;
  FOR w IN SELECT value FROM jsonb_array_elements(p_writes) LOOP
    k := w->>'kind';
    ns := w->>'namespace';
    nm := w->>'name';
    typ := w->>'type';
    -- Fencing: a controller's write names its lease and token; it is refused (-3) unless that
    -- lease still has that token and has not expired by the database's clock. FOR SHARE makes
    -- a takeover of the lease wait until this write has committed.
    IF w ? 'fence_lease' THEN
      PERFORM 1 FROM leases
        WHERE name = w->>'fence_lease' AND token = (w->>'fence_token')::bigint AND expires_at > clock_timestamp()
        FOR SHARE;
      IF NOT FOUND THEN
        out := out || (-3)::bigint;
        CONTINUE;
      END IF;
    END IF;
    IF typ = 'ADDED' THEN
      PERFORM 1 FROM resources WHERE kind = k AND namespace = ns AND name = nm;
      IF FOUND THEN
        out := out || (-2)::bigint;
        CONTINUE;
      END IF;
    ELSE
      SELECT revision, metadata->'labels' INTO cur, prev FROM resources WHERE kind = k AND namespace = ns AND name = nm;
      IF NOT FOUND OR cur <> (w->>'expected')::bigint THEN
        out := out || (-1)::bigint;
        CONTINUE;
      END IF;
    END IF;
    rev := rev + 1;
    IF typ = 'ADDED' THEN
      INSERT INTO resources (kind, namespace, name, uid, revision, generation, metadata, spec, status, deletion_timestamp, owner_uids)
        VALUES (k, ns, nm, (w->>'uid')::uuid, rev, (w->>'generation')::bigint, w->'metadata', w->'spec',
                NULLIF(w->'status', 'null'::jsonb), (w->>'deletion')::timestamptz,
                ARRAY(SELECT jsonb_array_elements_text(w->'owner_uids'))::uuid[]);
    ELSIF typ = 'MODIFIED' THEN
      UPDATE resources SET revision = rev, generation = (w->>'generation')::bigint, metadata = w->'metadata',
          spec = w->'spec', status = NULLIF(w->'status', 'null'::jsonb), deletion_timestamp = (w->>'deletion')::timestamptz,
          owner_uids = ARRAY(SELECT jsonb_array_elements_text(w->'owner_uids'))::uuid[]
        WHERE kind = k AND namespace = ns AND name = nm;
    ELSE
      DELETE FROM resources WHERE kind = k AND namespace = ns AND name = nm;
    END IF;
    INSERT INTO events_log (revision, kind, namespace, name, type, object, prev_labels)
      VALUES (rev, k, ns, nm, typ, w->'object', CASE WHEN typ = 'MODIFIED' THEN prev END);
    out := out || rev;
  END LOOP;
  IF rev > first_rev THEN
    UPDATE revision_counter SET revision = rev WHERE id = 1;
    PERFORM pg_notify('deployer_events', rev::text);
  END IF;
  RETURN out;
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
