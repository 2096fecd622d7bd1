import { createHash } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { appIdSchema } from '@mana/sync-protocol';
import { WebSocketServer } from 'ws';
import { clientAddress } from '../client-address.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { SyncContext } from '../sync/context.js';
import { userTables } from '../sync/user-tables.js';
import type { Fanout } from './fanout.js';
import { localFanout } from './fanout-local.js';
import { postgresFanout } from './fanout-postgres.js';
import { Hub } from './hub.js';

interface Realtime {
  hub: Hub;
  fanout: Fanout;
  /** Step one of shutdown: close every socket with 1001 and refuse new ones. */
  closeSockets(): void;
  /** Step two, after HTTP drained: publish what is batched and stop the fan-out. */
  close(): Promise<void>;
}

/**
 * Wires WebSockets into the service: `GET /ws` and `GET /ws/{appId}` upgrades on the same
 * HTTP server, the hub, the fan-out (PostgreSQL LISTEN/NOTIFY or in process), the push
 * listener and the /health counts.
 */
export async function attachRealtime(opts: {
  httpServer: Server;
  context: SyncContext;
  schema: string | undefined;
  /** Admits an upgrade request, or answers it and returns false (the HTTP connection caps). */
  admitUpgrade?: (req: IncomingMessage) => boolean;
}): Promise<Realtime> {
  const { httpServer, context } = opts;
  const { config, logger } = context;
  const fanout = await createFanout(config, opts.schema, logger, (s) =>
    context.metrics.fanoutDelay.observe(s),
  );
  const hub = new Hub({
    auth: context.auth,
    logger,
    authTimeoutMs: config.wsAuthTimeoutMs,
    maxSocketsPerUser: config.wsMaxSocketsPerUser,
    heartbeatMs: config.wsHeartbeatMs,
    listUserTables: (userId) => userTables(context, userId),
  });
  // Pushes are published through the fan-out, and the hub and the SSE streams hear them
  // through the sync service's one subscription to it.
  context.pushedEvents.connect(fanout);
  context.pushedEvents.subscribeAll({ event: (e) => hub.deliver(e), resync: () => void hub.resync() });
  context.healthSections.push(() => ({
    websockets: hub.counts(),
    fanout: fanout.kind,
  }));
  context.metrics.setRealtimeSource(() => ({ ...hub.counts(), ...hub.stats }));

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.wsMaxMessageBytes,
    perMessageDeflate: false,
    clientTracking: false,
  });
  let accepting = true;
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (opts.admitUpgrade && !opts.admitUpgrade(req)) return;
    const route = matchRoute(req.url ?? '/');
    if (route.status !== 101) return reject(socket, route.status, route.message);
    if (!accepting || context.shuttingDown) return reject(socket, 503, 'the server is shutting down');
    const address = clientAddress(req, config.trustProxy);
    wss.handleUpgrade(req, socket, head, (ws) => hub.accept(ws, route.appId, address));
  };
  httpServer.on('upgrade', onUpgrade);

  return {
    hub,
    fanout,
    closeSockets() {
      accepting = false;
      httpServer.off('upgrade', onUpgrade);
      hub.closeAll();
    },
    async close() {
      await fanout.close();
      wss.close();
    },
  };
}

/** `local` for PGlite (one process), LISTEN/NOTIFY when the store is PostgreSQL (unless set otherwise). */
async function createFanout(
  config: Config,
  schema: string | undefined,
  logger: Logger,
  observeDelay: (seconds: number) => void,
): Promise<Fanout> {
  const kind = config.fanout === 'auto' ? (config.databaseUrl ? 'postgres' : 'local') : config.fanout;
  if (kind === 'local') return localFanout(logger);
  if (!config.databaseUrl) throw new Error('FANOUT=postgres needs DATABASE_URL');
  return postgresFanout({
    databaseUrl: config.databaseUrl,
    channel: channelName(config.fanoutChannel, schema),
    batchMs: config.fanoutBatchMs,
    logger,
    observeDelay,
  });
}

/**
 * NOTIFY channels are database-wide: instances on different schemas of one database must
 * not hear each other, so the schema is part of the channel. PostgreSQL identifiers stop at
 * 63 bytes; a longer name is shortened with a hash so it stays distinct.
 */
export function channelName(base: string, schema: string | undefined): string {
  const name = schema ? `${base}_${schema}` : base;
  if (Buffer.byteLength(name) <= 63) return name;
  return `${name.slice(0, 50)}_${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;
}

type RouteMatch = { status: 101; appId: string | undefined } | { status: 400 | 404; message: string };

/** `/ws` (unified) or `/ws/{appId}` (legacy); a query string is ignored. */
export function matchRoute(url: string): RouteMatch {
  const path = url.split('?')[0]!;
  if (path === '/ws' || path === '/ws/') return { status: 101, appId: undefined };
  const m = /^\/ws\/([^/]+)\/?$/.exec(path);
  if (!m) return { status: 404, message: `no WebSocket route ${path}` };
  let appId: string;
  try {
    appId = decodeURIComponent(m[1]!);
  } catch {
    return { status: 400, message: 'appId is not valid URL encoding' };
  }
  if (!appIdSchema.safeParse(appId).success) {
    return { status: 400, message: 'appId: letters, digits, "_" and "-", starting with a letter or digit' };
  }
  return { status: 101, appId };
}

function reject(socket: Duplex, status: number, message: string): void {
  const code = status === 404 ? 'NOT_FOUND' : status === 503 ? 'SHUTTING_DOWN' : 'INVALID_REQUEST';
  const body = JSON.stringify({ error: { code, message } });
  const reason = status === 404 ? 'Not Found' : status === 503 ? 'Service Unavailable' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
