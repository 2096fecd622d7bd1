import { WS_CLOSE, WS_MESSAGE, wsServerMessageSchema } from '@mana/sync-protocol';
import type { TokenSource } from './auth.js';
import { type Backoff, createBackoff } from './backoff.js';

/** The subset of the WebSocket interface the client uses (the browser's, or `ws` in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface RealtimeOptions {
  url: string;
  appId: string;
  clientId: string;
  tokens: TokenSource;
  WebSocket: WebSocketConstructor;
  /** Tables another client changed. */
  onSyncAvailable(tables: string[]): void;
  /** Authenticated (first time or again): catch up on what was missed while away. */
  onConnected(): void;
  onDisconnected(): void;
  /** The server refused a fresh token: stop, the app must sign in again. */
  onAuthRefused(message: string): void;
  pingIntervalMs?: number;
  backoff?: Backoff;
}

export interface Realtime {
  readonly connected: boolean;
  start(): void;
  stop(): void;
  /** Drops the socket and reconnects now (stall recovery, coming back online). */
  reconnect(): void;
}

const OPEN = 1;

/**
 * One WebSocket per client to `/ws`:
 *
 *   connect ─▶ open ─▶ send auth ─▶ auth-ok ─▶ connected (ping every 25 s)
 *      ▲                  │ 4001/4003: fresh token once, reconnect now; refused again: stop
 *      └── backoff+jitter ┴─ any other close, no pong, no auth-ok in 10 s
 */
export function createRealtime(opts: RealtimeOptions): Realtime {
  const url = `${opts.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`;
  const backoff = opts.backoff ?? createBackoff({ baseMs: 1000, maxMs: 30_000 });
  const pingEvery = opts.pingIntervalMs ?? 25_000;
  let ws: WebSocketLike | null = null;
  let running = false;
  let connected = false;
  let authRetried = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pinger: ReturnType<typeof setInterval> | undefined;
  let awaitingPong = false;
  let reauth: ReturnType<typeof setTimeout> | undefined;
  /** The token the hub last got on the open socket. */
  let sentToken = '';

  function clearTimers() {
    clearTimeout(timer);
    clearInterval(pinger);
    clearTimeout(reauth);
    timer = undefined;
    pinger = undefined;
    reauth = undefined;
  }

  /**
   * The hub accepts a second auth on an open socket and moves its expiry: send a fresh token
   * when the token source would fetch one (auth.ts: ahead of expiry by the margin or half the
   * lifetime) instead of being closed with 4003 and reconnecting.
   */
  function scheduleReauth(socket: WebSocketLike, sent: string) {
    clearTimeout(reauth);
    const at = opts.tokens.refreshAt();
    // A margin of 0 means "never refresh early": the hub's 4003 close is the signal then.
    if (at === null || opts.tokens.refreshMarginMs <= 0) return;
    const delay = Math.max(1000, at - Date.now());
    if (delay > 2 ** 31 - 1) return;
    reauth = setTimeout(async () => {
      try {
        const token = await opts.tokens.current();
        if (ws !== socket || socket.readyState !== OPEN) return;
        // The app handed back the same token: nothing to tell the hub; look again later.
        if (token === sent) return scheduleReauth(socket, sent);
        sentToken = token;
        socket.send(JSON.stringify({ type: WS_MESSAGE.auth, token, clientId: opts.clientId }));
      } catch {
        // No fresh token: the hub will close with 4003 and the reconnect path decides.
      }
    }, delay);
  }

  function schedule(delayMs: number) {
    clearTimeout(timer);
    if (running) timer = setTimeout(connect, delayMs);
  }

  async function connect() {
    clearTimers();
    if (!running) return;
    let token: string;
    try {
      token = authRetried ? await opts.tokens.refresh() : await opts.tokens.current();
    } catch (err) {
      running = false;
      opts.onAuthRefused(String((err as Error).message ?? err));
      return;
    }
    if (!running) return;
    const socket = new opts.WebSocket(url);
    ws = socket;
    sentToken = token;
    // No auth-ok in time: treat like a dropped connection.
    timer = setTimeout(() => socket.close(), 10_000);
    socket.onopen = () =>
      socket.send(JSON.stringify({ type: WS_MESSAGE.auth, token, clientId: opts.clientId }));
    socket.onerror = () => {};
    socket.onmessage = (ev) => {
      let msg: ReturnType<typeof wsServerMessageSchema.parse>;
      try {
        msg = wsServerMessageSchema.parse(
          JSON.parse(typeof ev.data === 'string' ? ev.data : String(ev.data)),
        );
      } catch {
        return;
      }
      if (msg.type === 'auth-ok' && connected) {
        scheduleReauth(socket, sentToken); // a re-auth was accepted
      } else if (msg.type === 'auth-ok') {
        clearTimeout(timer);
        connected = true;
        authRetried = false;
        backoff.reset();
        awaitingPong = false;
        pinger = setInterval(() => {
          if (awaitingPong) return socket.close(); // half-open: no pong since the last ping
          awaitingPong = true;
          if (socket.readyState === OPEN) socket.send(JSON.stringify({ type: WS_MESSAGE.ping }));
        }, pingEvery);
        scheduleReauth(socket, sentToken);
        opts.onConnected();
      } else if (msg.type === 'pong') {
        awaitingPong = false;
      } else if (msg.type === 'sync-available') {
        if (msg.appId === opts.appId) opts.onSyncAvailable(msg.tables);
      }
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      clearTimers();
      const wasConnected = connected;
      connected = false;
      if (wasConnected) opts.onDisconnected();
      if (!running) return;
      if (ev.code === WS_CLOSE.unauthorized || ev.code === WS_CLOSE.tokenExpired) {
        if (authRetried) {
          running = false;
          opts.onAuthRefused(`the server refused a fresh token on the WebSocket (close ${ev.code})`);
          return;
        }
        authRetried = true;
        schedule(0);
        return;
      }
      schedule(backoff.next());
    };
  }

  return {
    get connected() {
      return connected;
    },
    start() {
      if (running) return;
      running = true;
      authRetried = false;
      backoff.reset();
      void connect();
    },
    stop() {
      running = false;
      clearTimers();
      const socket = ws;
      ws = null;
      connected = false;
      socket?.close(1000, 'client stopped');
    },
    reconnect() {
      if (!running) return;
      const socket = ws;
      ws = null;
      if (connected) opts.onDisconnected();
      connected = false;
      socket?.close(1000, 'reconnecting');
      backoff.reset();
      void connect();
    },
  };
}
