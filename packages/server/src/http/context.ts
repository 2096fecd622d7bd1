import type { Principal } from '../auth/auth.js';
import type { DevIssuer } from '../auth/dev-issuer.js';
import type { SyncContext } from '../sync/context.js';
import type { ConnectionCaps } from './connection-caps.js';

/** Everything a route needs: the sync service, and what only HTTP has. */
export interface ServerContext extends SyncContext {
  devIssuer?: DevIssuer | undefined;
  /** Connection caps (set once the HTTP server exists): request-time checks behind a trusted proxy. */
  connections?: ConnectionCaps;
}

/** Hono context variables set by the middleware. */
export interface AppEnv {
  Variables: {
    requestId: string;
    principal?: Principal;
    appId?: string;
    /** The client closed its connection mid-request (body.ts): no metrics, no request line. */
    clientClosed?: boolean;
  };
}
