import type { Config } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { type RunningServer, type StartOptions, startServer } from '../../src/server.js';
import { type AuthService, startAuthService } from './auth-service.js';
import type { TestDatabase } from './databases.js';

/**
 * A real mana-sync on an ephemeral loopback port, verifying real Ed25519 tokens against a
 * real JWKS endpoint, on the given database (in-memory PGlite or a fresh PostgreSQL schema).
 */
export interface TestServer {
  url: string;
  server: RunningServer;
  auth: AuthService;
  token(userId: string): Promise<string>;
  /** fetch against the server with a bearer token for `userId` (null: no Authorization). */
  request(userId: string | null, path: string, init?: RequestInit): Promise<Response>;
  /** POST /sync/{appId}; `headers` add to (or replace) the JSON content type, e.g. X-Client-Id. */
  push(userId: string, appId: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  pull(
    userId: string,
    appId: string,
    query: Record<string, string>,
    headers?: Record<string, string>,
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestServer(
  db: TestDatabase,
  config: Partial<Config> = {},
  opts: { logger?: Logger; takeover?: StartOptions['takeover'] } = {},
): Promise<TestServer> {
  const auth = await startAuthService();
  const server = await startServer({
    config: {
      port: 0,
      host: '127.0.0.1',
      databaseUrl: db.options.databaseUrl,
      jwksUrl: auth.jwksUrl,
      devAuth: false,
      rateLimitPerSecond: 0,
      authFailLimit: 0, // suites send many bad tokens from one address; auth tests turn it on
      logLevel: 'silent',
      ...(db.options.dataDir ? { dataDir: db.options.dataDir } : {}),
      ...config,
    },
    inMemory: !db.options.dataDir,
    ...(opts.takeover ? { takeover: opts.takeover } : {}),
    ...(db.options.schema ? { schema: db.options.schema } : {}),
    logger: opts.logger ?? createLogger(config.logLevel ?? 'silent'),
  }).catch(async (err) => {
    await auth.close();
    throw err;
  });
  const tokens = new Map<string, string>();
  const token = async (userId: string) => {
    const cached = tokens.get(userId);
    if (cached) return cached;
    const minted = await auth.mint(userId);
    tokens.set(userId, minted);
    return minted;
  };
  const request = async (userId: string | null, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (userId !== null) headers.set('authorization', `Bearer ${await token(userId)}`);
    return fetch(`${server.url}${path}`, { ...init, headers });
  };
  return {
    url: server.url,
    server,
    auth,
    token,
    request,
    push: (userId, appId, body, headers = {}) =>
      request(userId, `/sync/${appId}`, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      }),
    pull: (userId, appId, query, headers = {}) =>
      request(userId, `/sync/${appId}/pull?${new URLSearchParams(query)}`, { headers }),
    async close() {
      await server.close(2000);
      await auth.close();
    },
  };
}
