// The series taken from the store at scrape time. The API route reads the store (in the
// token's namespaces) and hands the figures over; this file only renders them, through a
// registry made for the one scrape, so label values are escaped as prom-client does.
import { Counter, Gauge, Registry } from 'prom-client';

/**
 * A ProjectServer's health as deployer_projectserver_health reports it — the same classes
 * as GET /api/monitoring/health: stopped (phase Stopped), else status.health, else unhealthy
 * when the phase is Failed, else pending (not running or not checked yet).
 */
export const SERVER_HEALTH_STATES = ['healthy', 'degraded', 'unhealthy', 'pending', 'stopped'] as const;
export type ServerHealthState = (typeof SERVER_HEALTH_STATES)[number];

export interface ServerFigures {
  namespace: string;
  name: string;
  health: ServerHealthState;
  /** status.restartCount */
  restarts: number;
}

export interface ScrapeSnapshot {
  /** ProjectServers in the token's namespaces. */
  servers: ServerFigures[];
  /** Deployments in the token's namespaces, counted by namespace and phase. */
  deployments: { namespace: string; phase: string; count: number }[];
  /** The cleanup controller's running total (its record in the store). */
  zombiesRemoved: number;
  /** Watch streams this process serves now. */
  openWatches: number;
  /** The database's newest revision minus the newest the watch hub has delivered (≥ 0). */
  watchLag: number;
}

const PREFIX = 'deployer_';

export async function renderSnapshot(s: ScrapeSnapshot): Promise<string> {
  const registers = [new Registry()];
  const health = new Gauge({
    name: `${PREFIX}projectserver_health`,
    help: `1 for the ProjectServer's current health (${SERVER_HEALTH_STATES.join(', ')}), 0 for the others`,
    labelNames: ['namespace', 'name', 'health'] as const,
    registers,
  });
  const restarts = new Counter({
    name: `${PREFIX}projectserver_restarts_total`,
    help: "Restarts of a ProjectServer's container (status.restartCount)",
    labelNames: ['namespace', 'name'] as const,
    registers,
  });
  for (const ps of s.servers) {
    for (const h of SERVER_HEALTH_STATES) health.set({ namespace: ps.namespace, name: ps.name, health: h }, h === ps.health ? 1 : 0);
    restarts.inc({ namespace: ps.namespace, name: ps.name }, ps.restarts);
  }
  const deployments = new Gauge({
    name: `${PREFIX}deployments`,
    help: 'Deployments by namespace and phase',
    labelNames: ['namespace', 'phase'] as const,
    registers,
  });
  for (const d of s.deployments) deployments.set({ namespace: d.namespace, phase: d.phase }, d.count);
  new Counter({
    name: `${PREFIX}cleanup_zombies_removed_total`,
    help: 'Containers the cleanup controller removed because their owner was gone (its record in the store)',
    registers,
  }).inc(s.zombiesRemoved);
  new Gauge({ name: `${PREFIX}watch_streams_open`, help: 'Watch streams this process serves now', registers }).set(s.openWatches);
  new Gauge({
    name: `${PREFIX}watch_hub_lag_revisions`,
    help: "The database's newest revision minus the newest revision the watch hub has delivered",
    registers,
  }).set(s.watchLag);
  return registers[0]!.metrics();
}
