import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAuth } from './auth/auth.js';
import { createDevIssuer, type DevIssuer, devIssuerName } from './auth/dev-issuer.js';
import { type Config, jwksUrlOf, loadConfig } from './config.js';
import { rowSecurityBypass } from './db/row-security.js';
import type { Db } from './db/sql.js';
import { createRequestListener } from './http/app.js';
import { answerClientError } from './http/client-error.js';
import { capConnections } from './http/connection-caps.js';
import type { ServerContext } from './http/context.js';
import { awaitingContinue } from './http/steps.js';
import { createLogger, type Logger, wantsPrettyLogs } from './logger.js';
import { createMetrics } from './metrics.js';
import { createRateLimiter } from './rate-limit.js';
import { attachRealtime } from './realtime/attach.js';
import { openStoreOnDb } from './store/open.js';
import type { SyncStore } from './store/sync-store.js';
import { type TakeoverOptions, takeOver } from './store/takeover.js';
import { createAdmission } from './sync/admission.js';
import { instrumentStore } from './sync/instrument-store.js';
import { PushedEvents } from './sync/pushed-events.js';
import { Streams } from './sync/streams.js';
import { VERSION } from './version.js';

export interface StartOptions {
  config?: Partial<Config>;
  /** PostgreSQL schema to use (tests isolate themselves in one). */
  schema?: string;
  /** PGlite in memory instead of `dataDir` (tests). */
  inMemory?: boolean;
  logger?: Logger;
  /** Use this store instead of opening one (benchmarks measure the request path without a database). */
  store?: SyncStore;
  /** Options of the takeover of the Go service's rows at start (tests: batch size, a crash). */
  takeover?: Omit<TakeoverOptions, 'logger'>;
}

export interface RunningServer {
  url: string;
  port: number;
  httpServer: Server;
  context: ServerContext;
  /**
   * The database the server opened (undefined with `StartOptions.store`): tests and
   * benchmarks prepare rows with it. No route or socket sees it; they reach the store only.
   */
  db: Db | undefined;
  /** Registers work to do on close, after HTTP has drained and before the database closes. */
  onClose(fn: () => Promise<void>): void;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`, default SHUTDOWN_GRACE_MS), closes the database. */
  close(graceMs?: number): Promise<void>;
}

export function devKeyFile(config: Config): string {
  return join(config.dataDir, 'dev-jwk.json');
}

/** Opens the store (migrating it), builds the app and listens. */
export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const config = loadConfig(process.env, opts.config);
  const logger = opts.logger ?? createLogger(config.logLevel, { pretty: wantsPrettyLogs(config.nodeEnv) });
  const metrics = createMetrics({
    maxAppLabels: config.metricsMaxApps,
    maxNewAppsPerUser: config.metricsNewAppsPerUser,
    apps: config.manaApps,
  });
  const schema = opts.schema ?? config.databaseSchema;
  const { store: opened, db } = opts.store
    ? { store: opts.store, db: undefined }
    : await openStoreOnDb({
        databaseUrl: config.databaseUrl,
        dataDir: opts.inMemory ? undefined : config.dataDir,
        pageMaxBytes: config.pageMaxBytes,
        ...(schema ? { schema } : {}),
      });
  if (db) {
    // Row-level security is defense in depth (store/migrations/0007): say so when it is off.
    const bypass = await rowSecurityBypass(db).catch(() => undefined);
    if (bypass)
      logger.warn(
        { bypass },
        `row-level security does not apply: ${bypass}; run the server as a role without SUPERUSER or BYPASSRLS (docs/operations.md, "Database role")`,
      );
    // Before serving: a device of the Go service that pulls must find every record it had.
    await takeOver(db, { ...opts.takeover, logger }).catch(async (err) => {
      await opened.close().catch(() => {});
      throw err;
    });
  }
  const store = instrumentStore(opened, metrics);

  let devIssuer: DevIssuer | undefined;
  const devClaims = { issuer: config.jwtIssuer, audience: config.jwtAudience };
  if (config.devAuth)
    devIssuer = await createDevIssuer(opts.inMemory ? undefined : devKeyFile(config), devClaims);
  const auth = createAuth({
    jwks: devIssuer ? devIssuer.getKey : jwksUrlOf(config),
    // Dev tokens are checked like any: JWT_ISSUER (else the dev issuer's name) and JWT_AUDIENCE.
    issuer: devIssuer ? devIssuerName(devClaims) : config.jwtIssuer,
    audience: config.jwtAudience,
    algorithms: devIssuer ? ['EdDSA'] : config.jwtAlgorithms,
    serviceKey: config.serviceKey,
    maxTtlSeconds: config.jwtMaxTtlS,
    failuresPerMinute: config.authFailLimit,
    onFailure(address, exhausted) {
      metrics.authFailures.inc();
      if (exhausted) {
        logger.warn(
          { remoteAddress: address, limit: config.authFailLimit },
          'client address over AUTH_FAIL_LIMIT: its unverified credentials get 429 for a while',
        );
      }
    },
    onLimited: () => metrics.authLimited.inc(),
  });

  // Both series from the start: a rate over a series that does not exist yet shows nothing.
  for (const reason of ['concurrency', 'rows'] as const) metrics.requestsQueued.inc({ reason }, 0);
  const limiter = createRateLimiter(config.rateLimitPerSecond, config.rateLimitBurst, config.rateLimitRows);
  const context: ServerContext = {
    config,
    store,
    auth,
    devIssuer,
    logger,
    metrics,
    limiter,
    admission: createAdmission({
      concurrency: config.rateLimitConcurrency,
      queue: config.rateLimitQueue,
      maxWaitMs: config.rateLimitMaxWaitMs,
      rowsWaitMs: limiter.rowsWaitMs,
      onQueued: (reason) => metrics.requestsQueued.inc({ reason }),
    }),
    pushedEvents: new PushedEvents((err) =>
      logger.error({ err: String(err) }, 'pushed-event listener failed'),
    ),
    streams: new Streams(config.sseMaxStreamsPerUser),
    healthSections: [() => ({ streams: context.streams.counts() })],
    startedAt: Date.now(),
    version: VERSION,
    shuttingDown: false,
  };
  const listener = createRequestListener(context);
  const httpServer = createServer(
    {
      // A slow or stalled sender is cut (408) once its headers, or its whole request, take
      // longer than this. Node times a request only until it has arrived: a long answer, an
      // SSE stream or an upgraded WebSocket is not affected.
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      // How often Node checks those deadlines (its default, 30 s, would let a 10 s one run to 40 s).
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(config.httpHeadersTimeoutMs / 4))),
    },
    listener,
  );
  // Expect: 100-continue: no 100 before the caller is known and admitted (http/steps.ts, goOn);
  // a route outside /sync/* reads no body before its caller is known, and is told to go on at once.
  httpServer.on('checkContinue', (req, res) => {
    if (req.url?.startsWith('/sync/')) awaitingContinue.add(req);
    else res.writeContinue();
    listener(req, res);
  });
  httpServer.keepAliveTimeout = 65_000;
  httpServer.on('clientError', answerClientError(context));
  context.connections = capConnections(httpServer, {
    maxConnections: config.maxConnections,
    maxPerAddress: config.maxConnectionsPerAddress,
    trustProxy: config.trustProxy,
    refused: metrics.connectionsRefused,
    opened: metrics.connectionsOpen,
    logger,
  });
  const connections = context.connections;
  const realtime = await attachRealtime({
    httpServer,
    context,
    schema,
    admitUpgrade: (req) => connections.admitRequest(req, undefined),
  }).catch(async (err) => {
    await store.close();
    throw err;
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(config.port, config.host, () => resolve());
  }).catch(async (err) => {
    await realtime.close();
    await store.close();
    throw err;
  });
  const port = (httpServer.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' || config.host === '::' || !config.host ? 'localhost' : config.host;
  const closers: Array<() => Promise<void>> = [() => realtime.close()];

  return {
    url: `http://${host}:${port}`,
    port,
    httpServer,
    context,
    db,
    onClose(fn) {
      closers.push(fn);
    },
    async close(graceMs = config.shutdownGraceMs) {
      context.shuttingDown = true;
      realtime.closeSockets(); // upgraded sockets would otherwise hold httpServer.close() open
      context.streams.endAll(); // so would SSE responses, which never end by themselves
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          httpServer.closeAllConnections();
          resolve();
        }, graceMs);
        force.unref();
        httpServer.close(() => {
          clearTimeout(force);
          resolve();
        });
        httpServer.closeIdleConnections();
      });
      for (const close of closers) await close();
      await store.close();
    },
  };
}
