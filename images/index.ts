export * from './static.js';
