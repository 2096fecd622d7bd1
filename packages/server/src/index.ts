export { type Auth, createAuth, type Principal } from './auth/auth.js';
export { createDevIssuer, type DevIssuer } from './auth/dev-issuer.js';
export { type Config, loadConfig, SETTINGS } from './config.js';
export type { ServerContext } from './http/context.js';
export { type RunningServer, type StartOptions, startServer } from './server.js';
export { openStore } from './store/open.js';
export type { SyncStore } from './store/sync-store.js';
export type { PushedEvent } from './sync/pushed-event.js';
