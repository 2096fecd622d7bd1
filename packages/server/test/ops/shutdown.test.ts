import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMicros, WS_CLOSE } from '@mana/sync-protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { pgliteDb } from '../../src/db/pglite.js';
import { sql } from '../../src/db/sql.js';
import { type ServeProcess, startServeProcess } from '../cli/serve-process.js';
import { openSocket } from '../helpers/ws-client.js';

const GRACE_MS = 8000;

describe('graceful shutdown of mana-sync serve', () => {
  const dirs: string[] = [];
  const children: ServeProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('SIGTERM during a push: the push finishes (200, committed), new requests are refused, sockets get 1001, exit 0 within the grace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mana-sync-shutdown-'));
    dirs.push(dataDir);
    const s = await startServeProcess(
      ['serve', '--dev-auth'],
      {
        MANA_SYNC_DATA_DIR: dataDir,
        SHUTDOWN_GRACE_MS: String(GRACE_MS),
        NODE_ENV: 'test',
        DATABASE_URL: '',
      },
      60_000,
    );
    children.push(s);

    const changes = Array.from({ length: 2000 }, (_, i) => ({
      table: 'todos',
      id: `t${i}`,
      op: 'insert',
      fields: { title: { value: `todo ${i} ${'x'.repeat(200)}`, updatedAt: '2026-01-01T00:00:00Z' } },
    }));
    const body = Buffer.from(JSON.stringify({ clientId: 'c1', changes }));
    const { port } = new URL(s.url);
    const socket = await openSocket(s.url);
    await socket.auth(s.token!, 'listener');

    // The push is in flight: its headers are in and the handler is waiting for the body.
    // (`Expect: 100-continue` tells us exactly when the server has taken the request.)
    let signalledAt = 0;
    let exited: Promise<number | null> | undefined;
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/sync/todo',
        headers: {
          authorization: `Bearer ${s.token}`,
          'content-type': 'application/json',
          'content-length': body.length,
          expect: '100-continue',
        },
      });
      req.on('continue', async () => {
        signalledAt = performance.now();
        exited = s.stop(30_000);
        try {
          // Shutting down once a new request is not taken (refused connection, or 503).
          let late: number | string = 200;
          for (let i = 0; i < 400 && late === 200; i++) {
            late = await fetch(`${s.url}/health`).then(
              (r) => r.status,
              () => 'refused',
            );
            if (late === 200) await new Promise((r) => setTimeout(r, 25));
          }
          expect([503, 'refused']).toContain(late);
          req.end(body);
        } catch (err) {
          reject(err);
        }
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });

    const res = await response;
    expect(res.status).toBe(200);
    // A full answer: its page capped at 1000 of the 2000 records it wrote (all committed), each
    // left out as the pushing client's own, the cursor moved past them.
    const answer = JSON.parse(res.body);
    expect([answer.serverChanges, answer.conflicts, answer.hasMore]).toEqual([[], [], true]);
    expect(answer.syncedUntil).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect((await socket.closed).code).toBe(WS_CLOSE.goingAway);
    const code = await exited;
    expect(code).toBe(0);
    expect(performance.now() - signalledAt).toBeLessThan(GRACE_MS);

    // The push was committed before it was acknowledged: its records are in the data directory.
    const db = await pgliteDb(dataDir);
    try {
      const [row] = await db
        .forUser('dev-user')
        .query<{ n: number }>(
          sql`SELECT count(*)::int AS n FROM sync_records WHERE user_id = ${'dev-user'} AND app_id = ${'todo'}`,
        );
      expect(row!.n).toBe(2000);
      // The answer's cursor is the 1000th record's position: the page read 1000 of them.
      const [nth] = await db.forUser('dev-user').query<{ us: string }>(
        sql`SELECT (extract(epoch FROM updated_at) * 1000000)::int8::text AS us FROM sync_records
            WHERE user_id = ${'dev-user'} AND app_id = ${'todo'} ORDER BY updated_at OFFSET 999 LIMIT 1`,
      );
      expect(String(parseMicros(answer.syncedUntil))).toBe(nth!.us);
    } finally {
      await db.close();
    }
  }, 120_000);
});
