export * from './labels.js';
export * from './types.js';
export * from './runtime.js';
export * from './events.js';
export * from './volume-watch.js';
export * from './log-source.js';
export { HELPER_LIMITS } from './mapping.js';
