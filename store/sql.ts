// Every SQL statement the resource store sends, by name.

export const SQL = {
  getOne: `SELECT revision, metadata, spec, status FROM resources WHERE kind = $1 AND namespace = $2 AND name = $3`,
  /** See deployer_write_batch in the migration: one transaction for many writes. */
  writeBatch: `SELECT deployer_write_batch($1::jsonb) AS revisions`,
  currentRevision: `SELECT revision FROM revision_counter WHERE id = 1`,
  compactedRevision: `SELECT revision FROM compaction WHERE id = 1`,
  /** Log rows after a revision (all kinds), for the watch hub. */
  logAfter: `SELECT revision, kind, namespace, name, type, object, prev_labels FROM events_log WHERE revision > $1 ORDER BY revision LIMIT $2`,
  /** Log rows of one kind in (from, to], with the compacted revision read in the same snapshot. */
  logRange: `SELECT c.revision AS compacted, e.revision, e.kind, e.namespace, e.name, e.type, e.object, e.prev_labels
    FROM compaction c LEFT JOIN LATERAL (
      SELECT revision, kind, namespace, name, type, object, prev_labels FROM events_log
      WHERE kind = $1 AND revision > $2 AND revision <= $3 ORDER BY revision
    ) e ON true WHERE c.id = 1`,
  dependentsOf: `SELECT kind, namespace, name FROM resources WHERE owner_uids @> ARRAY[$1::uuid] AND namespace = $2`,
  orphans: `SELECT r.kind, r.namespace, r.name FROM resources r
    WHERE cardinality(r.owner_uids) > 0 AND r.deletion_timestamp IS NULL
      AND NOT EXISTS (SELECT 1 FROM resources o WHERE o.uid = ANY (r.owner_uids) AND o.namespace = r.namespace)
    LIMIT 500`,
  /** The newest revision older than the time window, bounded to keep the last N revisions. */
  compactTarget: `SELECT LEAST(
      (SELECT COALESCE(max(revision), 0) FROM events_log WHERE created_at < now() - make_interval(secs => $1)),
      (SELECT revision FROM revision_counter WHERE id = 1) - $2) AS target`,
  compactDelete: `DELETE FROM events_log e WHERE e.revision <= $1 AND (e.type = 'DELETED' OR EXISTS (
      SELECT 1 FROM events_log n WHERE n.kind = e.kind AND n.namespace = e.namespace AND n.name = e.name
        AND n.revision > e.revision AND n.revision <= $1))`,
  compactSet: `UPDATE compaction SET revision = GREATEST(revision, $1) WHERE id = 1`,
} as const;
