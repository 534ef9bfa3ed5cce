// The controllers deployer can run, by name. `npm start` runs them all; `--controllers=a,b`
// (or DEPLOYER_CONTROLLERS) picks some. The kinds' controllers (projectserver, deployment,
// route, cleanup, gc) register here as they are built.
import type { Controller } from './runtime/controller.js';
import type { ControllerDeps } from './deps.js';
import { cleanupController } from './cleanup/index.js';
import { deploymentController } from './deployment/index.js';
import { projectServerController } from './projectserver/index.js';
import { routeController } from './route/index.js';

export type { ControllerDeps, DockerDeps, DockerEventSource, ProxySettings } from './deps.js';

export type ControllerFactory = (deps: ControllerDeps) => Controller;

export const CONTROLLERS: Readonly<Record<string, ControllerFactory>> = {
  projectserver: projectServerController,
  cleanup: (deps) => cleanupController(deps),
  route: routeController,
  deployment: deploymentController,
};

/** The controllers that cannot run without a Docker engine. */
export const NEEDS_DOCKER: readonly string[] = ['projectserver', 'cleanup', 'route', 'deployment'];

/**
 * Resolves a `--controllers` list ("a,b", "*" or empty for all, "none" for none). Throws an Error naming the
 * unknown ones and the known ones.
 */
export function selectControllers(spec: string | undefined, known: readonly string[] = Object.keys(CONTROLLERS)): string[] {
  if (spec === undefined || spec.trim() === '' || spec.trim() === '*') return [...known];
  if (spec.trim() === 'none') return [];
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length)
    throw new Error(`unknown controller${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${known.length ? known.join(', ') : 'none yet'}`);
  return names;
}
