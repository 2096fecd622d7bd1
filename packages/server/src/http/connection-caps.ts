import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SyncError } from '@mana/sync-protocol';
import type { Counter, Gauge } from 'prom-client';
import { clientAddress, plain } from '../client-address.js';
import type { Logger } from '../logger.js';

interface ConnectionCapsOptions {
  /** Open connections (HTTP, SSE, WebSocket, not yet authenticated ones alike) per instance. */
  maxConnections: number;
  /** Open connections per client address. */
  maxPerAddress: number;
  /**
   * Behind a proxy: the client address is the last `X-Forwarded-For` entry (the one the proxy
   * added) of a connection's first request, not the socket's (the proxy's) address.
   */
  trustProxy: boolean;
  refused: Counter<'reason'>;
  /** Kept at the number of open connections. */
  opened: Gauge<never>;
  logger: Logger;
  /** Shortest time between two log lines about refusals (default 10 s). */
  logEveryMs?: number;
}

export interface ConnectionCaps {
  /** Open connections counted now. */
  open(): number;
  /**
   * Behind a trusted proxy, called for each request and upgrade before anything else: false
   * when it was refused here (answered 503, or its socket destroyed).
   */
  admitRequest(req: IncomingMessage, res: ServerResponse | undefined): boolean;
}

type RefusalReason = 'instance' | 'address';

const ADDRESS = Symbol('mana-sync.clientAddress');
type Tracked = Socket & { [ADDRESS]?: string };

const CLOSE_AFTER_MS = 1000;
/** Refused sockets waiting for their peer to read the 503; past this many, new ones are cut at once. */
const MAX_LINGERING = 1024;

/**
 * Caps open connections per instance and per client address, so that a flood of half-sent
 * requests or idle sockets runs into a limit of ours (with a metric and a log line) before
 * the process runs out of file descriptors and `/health` fails.
 *
 * A connection over a cap never reaches node:http: it gets `503 TOO_MANY_CONNECTIONS` with
 * `Connection: close` written at once (a client reads it as the answer to its request) and is
 * closed. Why here and not in a request handler: a request handler runs only once the headers
 * have arrived, and a slow client holds its socket until then.
 */
export function capConnections(server: Server, opts: ConnectionCapsOptions): ConnectionCaps {
  const perAddress = new Map<string, number>();
  let open = 0;
  let lingering = 0;
  const refusals = { instance: 0, address: 0 };
  let lastLog = 0;
  const logEveryMs = opts.logEveryMs ?? 10_000;
  // Both series exist from the start at 0, so a rate over them (the alert) sees the first refusal.
  opts.refused.inc({ reason: 'instance' }, 0);
  opts.refused.inc({ reason: 'address' }, 0);

  const count = (address: string, by: 1 | -1) => {
    const n = (perAddress.get(address) ?? 0) + by;
    if (n <= 0) perAddress.delete(address);
    else perAddress.set(address, n);
  };

  const noteRefusal = (reason: RefusalReason, address: string) => {
    opts.refused.inc({ reason });
    refusals[reason]++;
    const now = Date.now();
    // One line per interval at most, with the counts since the last: a flood does not flood the log.
    if (now - lastLog >= logEveryMs) {
      lastLog = now;
      opts.logger.warn(
        {
          reason,
          clientAddress: address,
          open,
          refusedInstance: refusals.instance,
          refusedAddress: refusals.address,
          maxConnections: opts.maxConnections,
          maxPerAddress: opts.maxPerAddress,
        },
        'connections refused: TOO_MANY_CONNECTIONS',
      );
      refusals.instance = 0;
      refusals.address = 0;
    }
  };

  const admit = (socket: Tracked): boolean => {
    const address = plain(socket.remoteAddress ?? 'unknown');
    let reason: RefusalReason | undefined;
    if (open >= opts.maxConnections) reason = 'instance';
    else if (!opts.trustProxy && (perAddress.get(address) ?? 0) >= opts.maxPerAddress) reason = 'address';
    if (reason) {
      noteRefusal(reason, address);
      refuseSocket(socket, reason);
      return false;
    }
    open++;
    opts.opened.inc();
    if (!opts.trustProxy) {
      socket[ADDRESS] = address;
      count(address, 1);
    }
    socket.once('close', () => {
      open--;
      opts.opened.dec();
      const counted = socket[ADDRESS];
      if (counted !== undefined) count(counted, -1);
    });
    return true;
  };

  const refuseSocket = (socket: Socket, reason: RefusalReason) => {
    socket.on('error', () => {});
    if (lingering >= MAX_LINGERING) return void socket.destroy();
    lingering++;
    // Half-close after the answer and keep reading (discarding): closing outright with the
    // client's request unread would reset the connection, and the client would see a reset
    // instead of the 503.
    socket.end(rawRefusal(reason));
    socket.resume();
    socket.on('end', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), CLOSE_AFTER_MS);
    timer.unref();
    socket.once('close', () => {
      lingering--;
      clearTimeout(timer);
    });
  };

  // The one place a connection enters node:http: over a cap, it never does.
  const emit = server.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'connection' && !admit(args[0] as Tracked)) return true;
    return emit.call(this, event, ...args);
  } as Server['emit'];

  return {
    open: () => open,
    admitRequest(req, res) {
      if (!opts.trustProxy) return true;
      const socket = req.socket as Tracked;
      if (socket[ADDRESS] !== undefined) return true;
      const address = clientAddress(req, true);
      if ((perAddress.get(address) ?? 0) >= opts.maxPerAddress) {
        noteRefusal('address', address);
        if (res) {
          const body = JSON.stringify(refusalError('address').toBody());
          res.writeHead(503, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
            'Retry-After': '2',
            Connection: 'close',
          });
          res.end(body);
        } else {
          socket.end(rawRefusal('address'));
        }
        return false;
      }
      socket[ADDRESS] = address;
      count(address, 1);
      return true;
    },
  };
}

function refusalError(reason: RefusalReason): SyncError {
  return new SyncError(
    'TOO_MANY_CONNECTIONS',
    reason === 'instance'
      ? 'this server has as many connections open as it allows; retry later'
      : 'this client address has as many connections open as the server allows; close one or retry later',
  );
}

function rawRefusal(reason: RefusalReason): string {
  const body = JSON.stringify(refusalError(reason).toBody());
  return [
    'HTTP/1.1 503 Service Unavailable',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Retry-After: 2',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
