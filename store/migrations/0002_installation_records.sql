-- 0002: the installation's identity and what controllers record for monitoring.

-- One row: this installation's id. Docker objects deployer creates are labelled with it, so
-- two installations (or two test databases) sharing one Docker engine never touch each
-- other's containers.
CREATE TABLE installation (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO installation DEFAULT VALUES;

-- Figures a controller records for the monitoring API (the cleanup controller's counts), so
-- every API process answers the same without asking Docker. Written only by the leader
-- (fenced by its lease token).
CREATE TABLE controller_records (
  name text PRIMARY KEY,
  data jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
