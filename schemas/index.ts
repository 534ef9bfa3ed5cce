export * from './meta.js';
export * from './project-server.js';
export * from './deployment.js';
export * from './route.js';
export * from './event.js';
export * from './token.js';
