import { WS_CLOSE } from '@mana/sync-protocol';
import type { WebSocket } from 'ws';
import type { Auth } from '../auth/auth.js';
import type { Logger } from '../logger.js';
import type { PushedEvent } from '../sync/pushed-event.js';
import { type SessionHost, SocketSession } from './socket-session.js';

interface HubOptions {
  auth: Auth;
  logger: Logger;
  authTimeoutMs: number;
  maxSocketsPerUser: number;
  heartbeatMs: number;
  /** The (app, tables) a user has data in: what to tell a socket to pull after a resync. */
  listUserTables(userId: string): Promise<Array<{ appId: string; tables: string[] }>>;
}

/** Users whose tables are looked up at once during a resync (it shares the store's pool). */
const RESYNC_CONCURRENCY = 4;

/**
 * This instance's sockets, indexed by user. Delivers fan-out events to the sockets of the
 * event's user (unified: every app; legacy: its app only), skipping the socket of the client
 * that pushed. A heartbeat pings every socket each `heartbeatMs` and drops those that did not
 * answer the previous ping.
 */
export class Hub implements SessionHost {
  readonly auth: Auth;
  readonly logger: Logger;
  readonly authTimeoutMs: number;
  readonly stats = { notificationsSent: 0, notificationsCoalesced: 0, resyncs: 0 };
  private readonly sockets = new Set<SocketSession>();
  private readonly byUser = new Map<string, Set<SocketSession>>();
  private readonly heartbeat: NodeJS.Timeout;
  private resyncing: Promise<void> | undefined;
  private resyncAgain = false;

  constructor(private readonly opts: HubOptions) {
    this.auth = opts.auth;
    this.logger = opts.logger;
    this.authTimeoutMs = opts.authTimeoutMs;
    this.heartbeat = setInterval(() => this.beat(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Takes a freshly upgraded socket; it must authenticate next. */
  accept(ws: WebSocket, appId: string | undefined, address?: string): void {
    this.sockets.add(new SocketSession(ws, appId, this, address));
  }

  register(session: SocketSession): boolean {
    const userId = session.userId!;
    const mine = this.byUser.get(userId) ?? new Set<SocketSession>();
    if (mine.size >= this.opts.maxSocketsPerUser) return false;
    mine.add(session);
    this.byUser.set(userId, mine);
    return true;
  }

  unregister(session: SocketSession): void {
    this.sockets.delete(session);
    if (session.userId === undefined) return;
    const mine = this.byUser.get(session.userId);
    if (!mine?.delete(session)) return;
    if (mine.size === 0) this.byUser.delete(session.userId);
  }

  /** A push committed: notify the user's other sockets. */
  deliver(event: PushedEvent): void {
    const mine = this.byUser.get(event.userId);
    if (!mine) return;
    for (const session of mine) {
      if (session.clientId !== undefined && session.clientId === event.clientId) continue; // the pusher
      if (session.appId !== undefined && session.appId !== event.appId) continue; // legacy: other app
      session.notify(event.appId, event.tables);
    }
  }

  /**
   * Events may have been lost: tell every socket to pull every table its user has data in.
   * One at a time: a resync asked for while one runs runs once more afterwards.
   */
  resync(): Promise<void> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = this.runResync().finally(() => {
      this.resyncing = undefined;
      if (this.resyncAgain) {
        this.resyncAgain = false;
        void this.resync();
      }
    });
    return this.resyncing;
  }

  private async runResync(): Promise<void> {
    this.stats.resyncs++;
    const users = [...this.byUser.keys()];
    const next = async (): Promise<void> => {
      const userId = users.pop();
      if (userId === undefined) return;
      try {
        const apps = await this.opts.listUserTables(userId);
        for (const session of this.byUser.get(userId) ?? []) {
          for (const { appId, tables } of apps) {
            if (session.appId === undefined || session.appId === appId) session.notify(appId, tables);
          }
        }
      } catch (err) {
        this.logger.warn({ err: String(err) }, 'resync: listing a user’s tables failed');
      }
      return next();
    };
    await Promise.all(Array.from({ length: RESYNC_CONCURRENCY }, next));
  }

  counts(): { connections: number; users: number } {
    return { connections: this.sockets.size, users: this.byUser.size };
  }

  /** Shutdown: 1001 to every socket (clients reconnect to another instance), heartbeat off. */
  closeAll(): void {
    clearInterval(this.heartbeat);
    for (const session of [...this.sockets]) {
      session.close(WS_CLOSE.goingAway, undefined, 'server shutting down');
    }
  }

  private beat(): void {
    for (const session of [...this.sockets]) {
      if (!session.alive) {
        this.logger.debug({ userId: session.userId }, 'websocket missed a heartbeat; dropped');
        session.terminate();
        continue;
      }
      session.alive = false;
      session.ping();
    }
  }
}
