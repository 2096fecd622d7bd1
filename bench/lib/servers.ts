import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EPOCH } from '@mana/sync-protocol';
import { createLogger } from '../../packages/server/src/logger.js';
import { type RunningServer, startServer } from '../../packages/server/src/server.js';
import type { SyncStore } from '../../packages/server/src/store/sync-store.js';

/**
 * A mana-sync under test: started with startServer(), dev auth, no rate limit, silent log.
 * The per-user fair-share limits (RATE_LIMIT_ROWS, RATE_LIMIT_CONCURRENCY) are off unless
 * `userLimits`: the speed figures put one user's whole load through one server, and the row
 * budget would pace client and baseline alike (a 100k-record run waited on it, ratio ≈ 1).
 * The abuse figures turn them on: they are what those figures are about.
 */
export interface ManaUnderTest {
  server: RunningServer;
  port: number;
  token(userId: string): Promise<string>;
  close(): Promise<void>;
}

export type ManaTarget =
  /** `store`: serve this store instead of opening one (on the same database, for fan-out). */
  | { kind: 'postgres'; url: string; schema: string; store?: SyncStore }
  | { kind: 'pglite' }
  | { kind: 'no-database' };

export async function startMana(target: ManaTarget, { userLimits = false } = {}): Promise<ManaUnderTest> {
  const server = await startServer({
    config: {
      port: 0,
      host: '127.0.0.1',
      devAuth: true,
      rateLimitPerSecond: 0,
      ...(userLimits ? {} : { rateLimitRows: 0, rateLimitConcurrency: 0 }),
      // Every benchmark client connects from 127.0.0.1, thousands of sockets at once.
      maxConnections: 1_000_000,
      maxConnectionsPerAddress: 1_000_000,
      logLevel: 'silent',
      databaseUrl: target.kind === 'postgres' ? target.url : undefined,
    },
    inMemory: true,
    logger: createLogger('silent'),
    ...(target.kind === 'postgres' ? { schema: target.schema } : {}),
    ...(target.kind === 'no-database' ? { store: await noDatabaseStore() } : {}),
    ...(target.kind === 'postgres' && target.store ? { store: target.store } : {}),
  });
  const issuer = server.context.devIssuer!;
  return {
    server,
    port: server.port,
    token: (userId) => issuer.mint(userId, 3600),
    close: () => server.close(2000),
  };
}

/**
 * "The request path without the database": a store that answers every push as if the
 * database had nothing to send (no records written, none changed since `since`). Everything
 * in front of the store still runs for real: HTTP parsing, the push endpoint (or Hono, for
 * what it leaves), request id, CORS, body limit, JWT verification (cached), rate-limit
 * bookkeeping, the push-body check, metrics, JSON in and out.
 */
async function noDatabaseStore(): Promise<SyncStore> {
  return {
    kind: 'postgres',
    userTables: async () => [],
    async push(input) {
      return {
        serverChanges: [],
        conflicts: [],
        syncedUntil: input.since,
        hasMore: false,
        tablesChanged: [],
        changesAccepted: 0,
        fieldsAccepted: 0,
        recordsWritten: 0,
        pageRowsRead: 0,
        indexProbes: 0,
        overtaken: false,
      };
    },
    async pull(input) {
      return { serverChanges: [], syncedUntil: input.since, hasMore: false, rowsRead: 0 };
    },
    async ping() {},
    close: async () => {},
  };
}

/**
 * The baseline of the request path: a bare node:http server that reads the body, parses
 * the JSON, and answers with the same JSON a push with nothing to send answers. No
 * framework, no auth, no validation.
 */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let since: string = EPOCH;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { since?: string };
        if (typeof body.since === 'string') since = body.since;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const out = JSON.stringify({ serverChanges: [], conflicts: [], syncedUntil: since, hasMore: false });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(out),
      });
      res.end(out);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
