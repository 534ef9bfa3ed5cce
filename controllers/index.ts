// The controllers deployer can run, by name. `npm start` runs them all; `--controllers=a,b`
// (or DEPLOYER_CONTROLLERS) picks some. The kinds' controllers (projectserver, deployment,
// route, cleanup, gc) register here as they are built.
import type { Store } from '../store/index.js';
import type { Controller } from './runtime/controller.js';
import type { LogFn } from './runtime/log.js';

export interface ControllerDeps {
  store: Store;
  /** This process' identity (lease holder, Event reportingInstance). */
  identity: string;
  log: LogFn;
}

export type ControllerFactory = (deps: ControllerDeps) => Controller;

export const CONTROLLERS: Readonly<Record<string, ControllerFactory>> = {};

/**
 * Resolves a `--controllers` list ("a,b", "*" or empty for all). Throws an Error naming the
 * unknown ones and the known ones.
 */
export function selectControllers(spec: string | undefined, known: readonly string[] = Object.keys(CONTROLLERS)): string[] {
  if (spec === undefined || spec.trim() === '' || spec.trim() === '*') return [...known];
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length)
    throw new Error(`unknown controller${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${known.length ? known.join(', ') : 'none yet'}`);
  return names;
}
