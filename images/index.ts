export * from './static.js';
export * from './caddy.js';
