export * from './config.js';
export * from './caddy.js';
