import {
  type ErrorCode,
  SyncError,
  WS_CLOSE,
  type WsClientMessage,
  type WsServerMessage,
  wsClientMessageSchema,
} from '@mana/sync-protocol';
import WebSocket, { type RawData } from 'ws';
import type { Auth } from '../auth/auth.js';
import type { Logger } from '../logger.js';
import { NotificationQueue } from './notification-queue.js';

/** Above this many unsent bytes a socket counts as slow: its notifications are merged, not queued. */
const SLOW_SOCKET_BYTES = 16 * 1024;
/** How often a slow socket is checked for having drained. */
const DRAIN_CHECK_MS = 25;
/** App + table pairs a slow socket may owe before it is dropped (1013: reconnect, then pull). */
const MAX_QUEUED_TABLES = 1024;
/** Messages a client may send before the previous ones were handled (auth takes a JWKS look-up). */
const MAX_BACKLOG = 32;
/** setTimeout's longest delay; token lifetimes past it are waited out in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a session needs from its hub. */
export interface SessionHost {
  auth: Auth;
  authTimeoutMs: number;
  logger: Logger;
  /** Adds an authenticated session to its user; false when the user is at the socket cap. */
  register(session: SocketSession): boolean;
  /** Forgets a session (closed, in any state). */
  unregister(session: SocketSession): void;
  stats: { notificationsSent: number; notificationsCoalesced: number };
}

type State = 'awaiting-auth' | 'open' | 'closed';

/**
 * One WebSocket, from upgrade to close:
 *
 *   awaiting-auth ──{auth} verified──► open ──close / expiry / heartbeat──► closed
 *        │ no auth in time (4002), bad token (4001), expired (4003),
 *        │ user at cap (4008), anything but auth (1002)
 *        └──────────────────────────────────────────────────────────────► closed
 *
 * Messages are handled one at a time in arrival order (a ping sent right after auth is
 * answered after auth-ok). A second auth on an open socket refreshes the token (same user
 * only), which moves the expiry without reconnecting.
 */
export class SocketSession {
  userId: string | undefined;
  clientId: string | undefined;
  /** Cleared by each heartbeat, set again by a pong or any message; still clear at the next beat: dead. */
  alive = true;
  private state: State = 'awaiting-auth';
  private readonly queue = new NotificationQueue(MAX_QUEUED_TABLES);
  private authTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private backlog = 0;
  private finished = false;

  constructor(
    private readonly ws: WebSocket,
    /** Legacy `/ws/{appId}` sockets hear about this app only; unified `/ws` sockets: undefined. */
    readonly appId: string | undefined,
    private readonly host: SessionHost,
    /** The client's address (client-address.ts): failed auth messages count against it. */
    private readonly address?: string,
  ) {
    this.authTimer = setTimeout(
      () =>
        this.close(WS_CLOSE.authTimeout, 'UNAUTHORIZED', `no auth message within ${host.authTimeoutMs} ms`),
      host.authTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('close', () => this.onClosed());
    // 'close' always follows 'error' (including a frame over maxPayload, closed with 1009).
    ws.on('error', (err) => host.logger.debug({ err: String(err) }, 'websocket error'));
  }

  /** Heartbeat: a ping frame (answered by every WebSocket implementation without app code). */
  ping(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  /** Drops a socket at once, without a closing handshake (dead peer). */
  terminate(): void {
    this.ws.terminate();
    this.onClosed();
  }

  /** Tells the client to pull `tables` of `appId`, merged with what it is still owed when it is slow. */
  notify(appId: string, tables: readonly string[]): void {
    if (this.state !== 'open') return;
    if (this.queue.empty && this.ws.bufferedAmount < SLOW_SOCKET_BYTES) {
      this.sendSyncAvailable(appId, [...tables]);
      return;
    }
    this.host.stats.notificationsCoalesced++;
    if (!this.queue.add(appId, tables)) {
      this.close(
        WS_CLOSE.tryAgainLater,
        'RATE_LIMITED',
        'too many notifications waiting; reconnect and pull',
      );
      return;
    }
    this.scheduleDrain();
  }

  /** Closes with `code`, telling the client why first (an `error` message, then the close reason). */
  close(code: number, errorCode: ErrorCode | undefined, message: string): void {
    if (this.state === 'closed') return;
    this.host.logger.debug({ code, userId: this.userId, reason: message }, 'websocket closed by server');
    if (errorCode) this.send({ type: 'error', code: errorCode, message });
    this.ws.close(code, truncate(message, 123));
    this.onClosed();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.state === 'closed') return;
    if (++this.backlog > MAX_BACKLOG) {
      this.close(WS_CLOSE.protocolError, 'RATE_LIMITED', 'too many messages in flight');
      return;
    }
    const text = isBinary ? undefined : rawToString(data);
    this.work = this.work
      .then(() => this.handle(text))
      .catch((err) => {
        this.host.logger.error({ err: String(err) }, 'websocket message failed');
        this.close(WS_CLOSE.protocolError, 'INTERNAL', 'internal error');
      })
      .finally(() => {
        this.backlog--;
      });
  }

  private async handle(text: string | undefined): Promise<void> {
    if (this.state === 'closed') return;
    if (text === undefined)
      return this.close(WS_CLOSE.protocolError, 'BAD_JSON', 'binary frames are not used');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return this.close(WS_CLOSE.protocolError, 'BAD_JSON', 'message is not valid JSON');
    }
    const parsed = wsClientMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
      return this.close(WS_CLOSE.protocolError, 'INVALID_REQUEST', `bad message${where}: ${issue?.message}`);
    }
    const msg: WsClientMessage = parsed.data;
    if (msg.type === 'auth') return this.authenticate(msg.token, msg.clientId);
    if (this.state !== 'open') {
      return this.close(WS_CLOSE.protocolError, 'UNAUTHORIZED', 'the first message must be auth');
    }
    this.send({ type: 'pong' });
  }

  private async authenticate(token: string, clientId: string | undefined): Promise<void> {
    clearTimeout(this.authTimer);
    let principal: Awaited<ReturnType<Auth['verifyToken']>>;
    try {
      principal = await this.host.auth.verifyToken(token, this.address);
    } catch (err) {
      const e = err instanceof SyncError ? err : new SyncError('UNAUTHORIZED', 'invalid token');
      if (e.code === 'TOKEN_EXPIRED') return this.close(WS_CLOSE.tokenExpired, e.code, e.message);
      if (e.code === 'AUTH_UNAVAILABLE' || e.code === 'RATE_LIMITED')
        return this.close(WS_CLOSE.tryAgainLater, e.code, e.message);
      const code = e.code === 'TOKEN_LIFETIME' ? e.code : 'UNAUTHORIZED';
      return this.close(WS_CLOSE.unauthorized, code, e.message);
    }
    if (this.state === 'closed') return;
    if (this.state === 'open') {
      // Token refresh on an open socket: same user only; the client id stays what it was.
      if (principal.userId !== this.userId) {
        return this.close(
          WS_CLOSE.unauthorized,
          'UNAUTHORIZED',
          'a refreshed token must be for the same user',
        );
      }
    } else {
      this.userId = principal.userId;
      this.clientId = clientId;
      if (!this.host.register(this)) {
        return this.close(WS_CLOSE.tooManyConnections, 'RATE_LIMITED', 'too many open sockets for this user');
      }
      this.state = 'open';
    }
    this.armExpiry(principal.expiresAt);
    this.send({ type: 'auth-ok' });
  }

  /** Closes the socket when its token expires (4003): the client reconnects with a fresh one. */
  private armExpiry(expiresAt: number | undefined): void {
    clearTimeout(this.expiryTimer);
    if (expiresAt === undefined) return;
    const left = expiresAt * 1000 - Date.now();
    if (left <= 0) {
      this.close(WS_CLOSE.tokenExpired, 'TOKEN_EXPIRED', 'token expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(expiresAt), Math.min(left, MAX_TIMER_MS));
  }

  private scheduleDrain(): void {
    if (this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      if (this.state !== 'open') return;
      if (this.ws.bufferedAmount >= SLOW_SOCKET_BYTES) {
        this.scheduleDrain();
        return;
      }
      for (const { appId, tables } of this.queue.take()) this.sendSyncAvailable(appId, tables);
    }, DRAIN_CHECK_MS);
  }

  private sendSyncAvailable(appId: string, tables: string[]): void {
    this.host.stats.notificationsSent++;
    this.send({ type: 'sync-available', appId, tables });
  }

  private send(msg: WsServerMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onClosed(): void {
    if (this.finished) return;
    this.finished = true;
    this.state = 'closed';
    for (const t of [this.authTimer, this.expiryTimer, this.drainTimer]) clearTimeout(t);
    this.authTimer = this.expiryTimer = this.drainTimer = undefined;
    this.host.unregister(this);
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function truncate(s: string, maxBytes: number): string {
  let out = s;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}
