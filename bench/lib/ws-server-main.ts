import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { startMana } from './servers.js';

/**
 * Entry of a WebSocket server process (see ws-server.ts): either mana-sync (startServer() on
 * a PostgreSQL schema, its hub on /ws) or the bare baseline: node:http plus a `ws`
 * WebSocketServer that answers `auth` with `auth-ok` (no verification; it reads `sub` from
 * the token) and, on any POST, parses the JSON body and sends `sync-available` to the
 * sockets of the token's user. Commands arrive over IPC; the process ends itself after
 * BENCH_JOB_TIMEOUT_MS.
 */
type Command = { cmd: 'tokens'; users: number } | { cmd: 'measure' } | { cmd: 'stop' };

const { kind, url, schema } = JSON.parse(process.argv[2]!) as {
  kind: 'mana' | 'bare';
  url?: string;
  schema?: string;
};
setTimeout(() => process.exit(3), Number(process.env.BENCH_JOB_TIMEOUT_MS ?? 300_000)).unref();

function subOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
    sub?: string;
  };
  return payload.sub ?? 'anonymous';
}

async function startBare() {
  const byUser = new Map<string, Set<WebSocket>>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const user = subOf((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      const note = JSON.stringify({ type: 'sync-available', appId: 'bench', tables: ['todos'] });
      for (const ws of byUser.get(user) ?? []) ws.send(note);
      const out = JSON.stringify({ serverChanges: [], conflicts: [], syncedUntil: '', hasMore: false });
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
        .end(out);
    });
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { type: string; token?: string };
      if (msg.type !== 'auth' || !msg.token) return;
      const user = subOf(msg.token);
      const set = byUser.get(user) ?? new Set<WebSocket>();
      byUser.set(user, set);
      set.add(ws);
      ws.on('close', () => set.delete(ws));
      ws.send(JSON.stringify({ type: 'auth-ok' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const fake = (sub: string) =>
    `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub })).toString('base64url')}.x`;
  return {
    port: (server.address() as AddressInfo).port,
    token: async (sub: string) => fake(sub),
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function memory() {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

try {
  const server =
    kind === 'mana' ? await startMana({ kind: 'postgres', url: url!, schema: schema! }) : await startBare();
  process.on('message', async (c: Command) => {
    if (c.cmd === 'tokens') {
      const tokens = await Promise.all(
        Array.from({ length: c.users }, (_, i) => server.token(`ws-user-${i}`)),
      );
      process.send?.({ tokens });
    } else if (c.cmd === 'measure') {
      process.send?.(memory());
    } else {
      await server.close();
      process.send?.({ stopped: true }, () => process.exit(0));
    }
  });
  process.send?.({ port: server.port });
} catch (err) {
  process.send?.({ error: String((err as Error)?.stack ?? err) }, () => process.exit(1));
}
