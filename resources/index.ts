export * from './errors.js';
export * from './equal.js';
export * from './conditions.js';
export * from './kinds.js';
export * from './selectors.js';
export * from './validation.js';
export * from './rules.js';
export * from './patch.js';
