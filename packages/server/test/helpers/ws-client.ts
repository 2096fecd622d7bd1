import type { Socket } from 'node:net';
import { type WsServerMessage, wsServerMessageSchema } from '@mana/sync-protocol';
import WebSocket from 'ws';

/**
 * A real WebSocket client for tests: collects every server message (validated against the
 * protocol schema) and lets a test wait for the next one or for the close.
 */
export interface TestSocket {
  ws: WebSocket;
  /** The TCP socket under the WebSocket (pause it to play a dead or slow peer). */
  tcp: Socket;
  /** Resolves with the next unread message (in arrival order); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<WsServerMessage>;
  /** Resolves when the socket closes, with the code and reason the server gave. */
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** Sends auth and waits for auth-ok (throws on anything else). */
  auth(token: string, clientId?: string): Promise<void>;
  close(): void;
}

export async function openSocket(baseUrl: string, path = '/ws'): Promise<TestSocket> {
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}${path}`);
  const inbox: WsServerMessage[] = [];
  const waiters: Array<(m: WsServerMessage) => void> = [];
  let tcp: Socket | undefined;
  ws.on('upgrade', (res) => {
    tcp = res.socket;
  });
  ws.on('message', (data) => {
    const msg = wsServerMessageSchema.parse(JSON.parse(String(data)));
    const waiter = waiters.shift();
    if (waiter) waiter(msg);
    else inbox.push(msg);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('error', () => {}); // 'close' follows
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('error', reject);
  });
  const next = (timeoutMs = 5000) =>
    new Promise<WsServerMessage>((resolve, reject) => {
      const queued = inbox.shift();
      if (queued) return resolve(queued);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(onMessage), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (m: WsServerMessage) => {
        clearTimeout(timer);
        resolve(m);
      };
      waiters.push(onMessage);
    });
  const send = (message: unknown) => ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  return {
    ws,
    tcp: tcp!,
    next,
    closed,
    send,
    async auth(token, clientId) {
      send({ type: 'auth', token, ...(clientId ? { clientId } : {}) });
      const reply = await next();
      if (reply.type !== 'auth-ok') throw new Error(`expected auth-ok, got ${JSON.stringify(reply)}`);
    },
    close: () => ws.close(),
  };
}
