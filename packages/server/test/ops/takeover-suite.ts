import { afterEach, describe, expect, it } from 'vitest';
import { pgliteDb } from '../../src/db/pglite.js';
import { type Db, sql } from '../../src/db/sql.js';
import { createLogger } from '../../src/logger.js';
import type { StartOptions } from '../../src/server.js';
import { openDb } from '../../src/store/open.js';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { goDevices, WebDevice } from './go-devices.js';
import {
  type FoldRecord,
  fold,
  GO_SCHEMA,
  type GoRow,
  GoWriter,
  goCursor,
  insertGoRows,
  isDeletedValue,
  micros,
} from './go-service.js';

/**
 * The takeover of a database the Go mana-sync service created (takeover.test.ts on PGlite,
 * takeover.pg.test.ts on PostgreSQL): a real server started on it builds its records from the
 * Go rows, and the Go service's devices carry on from the cursors they hold.
 */
export function takeoverSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`takeover of the Go service's database on ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
    });
    const tag = Math.random().toString(36).slice(2, 8);
    const GO_START = micros('2025-03-01T08:00:00Z');

    /** A database with the Go schema and `rows` in it. */
    async function goDatabase(rows: GoRow[]): Promise<TestDatabase> {
      const db = await makeDb();
      cleanups.push(() => db.drop());
      await withDb(db, null, async (a) => {
        await a.exec(GO_SCHEMA);
        await insertGoRows(a, rows);
      });
      return db;
    }

    /** The database directly: the running server's connection, else one of its own. */
    async function withDb<T>(db: TestDatabase, ts: TestServer | null, fn: (a: Db) => Promise<T>): Promise<T> {
      if (ts) return fn(ts.server.db!);
      const a = db.options.databaseUrl
        ? await openDb({ databaseUrl: db.options.databaseUrl, schema: db.options.schema! })
        : await pgliteDb(db.options.dataDir);
      try {
        return await fn(a);
      } finally {
        await a.close();
      }
    }

    /** A server on `db` whose log lines are kept. */
    async function start(db: TestDatabase, takeover?: StartOptions['takeover']) {
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger('info', {
        destination: { write: (s: string) => void lines.push(JSON.parse(s)) },
      });
      const ts = await startTestServer(db, {}, { logger, ...(takeover ? { takeover } : {}) });
      cleanups.push(() => ts.close());
      const takeoverLines = () => lines.filter((l) => String(l.msg).startsWith('takeover'));
      return { ts, takeoverLines };
    }

    async function logCounts(a: Db) {
      const [row] = await a.maintenance().query<{ total: number; unmerged: number }>(sql`
        SELECT count(*)::int AS total, (count(*) FILTER (WHERE NOT merged))::int AS unmerged FROM sync_changes`);
      return row!;
    }

    interface StoredRecord {
      user_id: string;
      app_id: string;
      table_name: string;
      record_id: string;
      data: Record<string, unknown>;
      field_timestamps: Record<string, string>;
      last_client_id: string;
      field_writers: Record<string, string>;
      field_actors: Record<string, unknown> | null;
      event_id: string;
      position_us: string;
    }
    const records = (a: Db) =>
      a.maintenance().query<StoredRecord>(sql`
        SELECT user_id, app_id, table_name, record_id, data, field_timestamps, last_client_id,
               field_writers, field_actors, event_id::text AS event_id,
               (extract(epoch FROM updated_at) * 1000000)::int8::text AS position_us
        FROM sync_records ORDER BY user_id, app_id, table_name, record_id`);

    /**
     * Where the stored records differ from `expected`: values, field times, who wrote each
     * field (client and actor), the event id; and any record that `rows` changed positioned
     * at or before one of them (a device's cursor could be there).
     */
    async function serverMismatches(
      a: Db,
      rows: GoRow[],
      expected: Map<string, FoldRecord>,
    ): Promise<string[]> {
      const out: string[] = [];
      const stored = await records(a);
      if (stored.length !== expected.size) out.push(`${stored.length} records, expected ${expected.size}`);
      const newestGo = new Map<string, number>();
      for (const r of rows) newestGo.set(r.user, Math.max(newestGo.get(r.user) ?? 0, r.createdUs));
      const ids = new Set(rows.map((r) => r.id));
      for (const s of stored) {
        const k = `${s.user_id}/${s.app_id}/${s.table_name}/${s.record_id}`;
        const want = expected.get(k);
        if (!want) {
          out.push(`${k}: not expected`);
          continue;
        }
        if (ids.has(want.eventId) && Number(s.position_us) <= newestGo.get(s.user_id)!)
          out.push(`${k}: position before a Go row`);
        if (s.event_id !== want.eventId) out.push(`${k}: eventId ${s.event_id}, expected ${want.eventId}`);
        const fields = Object.keys(s.field_timestamps).sort();
        if (fields.join() !== [...want.fields.keys()].sort().join())
          out.push(`${k}: fields ${fields}, expected ${[...want.fields.keys()]}`);
        for (const [field, f] of want.fields) {
          const value = s.data[field];
          const same =
            field === 'deletedAt' && isDeletedValue(f.value)
              ? typeof value === 'string' && micros(value) === micros(String(f.value))
              : JSON.stringify(value ?? null) === JSON.stringify(f.value ?? null);
          if (!same) out.push(`${k}.${field}: ${JSON.stringify(value)}, expected ${JSON.stringify(f.value)}`);
          if (s.field_timestamps[field] && micros(s.field_timestamps[field]) !== f.us)
            out.push(`${k}.${field}: at ${s.field_timestamps[field]}, expected ${f.us}`);
          const writer = s.field_writers[field] ?? s.last_client_id;
          if (writer !== f.client) out.push(`${k}.${field}: written by ${writer}, expected ${f.client}`);
          const actor = s.field_actors?.[field] ?? null;
          if (JSON.stringify(actor) !== JSON.stringify(f.actor))
            out.push(`${k}.${field}: actor ${JSON.stringify(actor)}, expected ${JSON.stringify(f.actor)}`);
        }
      }
      return out;
    }

    it('builds every record from the Go rows at the first start; every device carries on from its cursor; a restart imports nothing again; later Go rows come in at the next start', async () => {
      const users = ['ana', 'ben', 'cem'].map((u) => `${u}-${tag}`);
      const writer = new GoWriter(users, 42);
      const rows = writer.rows(3000, GO_START);
      const spaceRows = rows.filter((r) => r.space !== null).length;
      expect(spaceRows).toBeGreaterThan(0);
      const db = await goDatabase(rows);
      const devices = goDevices(writer, rows);
      const expected = fold(rows);

      // First start: the takeover runs before the server answers.
      let server = await start(db);
      let snapshot: unknown;
      {
        const { ts, takeoverLines } = server;
        const summary = takeoverLines().find((l) => String(l.msg).startsWith('takeover: done'));
        expect(summary).toMatchObject({ usersDone: 3, usersTotal: 3, rows: rows.length, spaceRows });
        expect(String(summary!.msg)).toContain(`${spaceRows} rows with a space_id`);
        await withDb(db, ts, async (a) => {
          expect(await serverMismatches(a, rows, expected)).toEqual([]);
          // The Go rows are the log: none added, every one merged.
          expect(await logCounts(a)).toEqual({ total: rows.length, unmerged: 0 });
          snapshot = await records(a);
          // The migrations kept the Go service's indexes and built no copies of them.
          const indexes = await a.query<{ name: string }>(sql`
            SELECT indexname AS name FROM pg_indexes
            WHERE schemaname = current_schema() AND tablename = 'sync_changes' ORDER BY indexname`);
          expect(indexes.map((i) => i.name)).toEqual([
            'idx_sync_changes_since',
            'idx_sync_changes_table_record',
            'idx_sync_changes_user_app',
            'idx_sync_changes_user_space_app_since',
            'sync_changes_pkey',
            'sync_changes_unmerged',
          ]);
        });
        for (const d of devices) expect(await d.sync(ts), d.clientId).toEqual([]);
        expect(devices.flatMap((d) => d.mismatches(expected))).toEqual([]);
        await ts.close();
      }

      // A restart: nothing left to merge, nothing written.
      server = await start(db);
      await withDb(db, server.ts, async (a) => {
        expect(server.takeoverLines()).toEqual([]);
        expect(await records(a)).toEqual(snapshot);
        expect(await logCounts(a)).toEqual({ total: rows.length, unmerged: 0 });
      });
      await server.ts.close();

      // The Go service ran again and wrote more (stamped now): the next start merges them.
      // One device saw half of them through the Go service first; every device wrote some.
      const later = writer.rows(400, Date.now() * 1000);
      await withDb(db, null, (a) => insertGoRows(a, later));
      const goFirst = devices[1]!;
      const half = later[200]!.createdUs;
      for (const r of later) {
        const d = devices.find((x) => x.clientId === r.client);
        if (d) d.applyRow(r);
        if (r.user === goFirst.user && r.client !== goFirst.clientId && r.createdUs <= half) {
          goFirst.applyRow(r);
          goFirst.cursors.set(`${r.app}/${r.table}`, goCursor(r.createdUs));
        }
      }
      const all = [...rows, ...later];
      const expectedAll = fold(all);
      server = await start(db);
      const summary = server.takeoverLines().find((l) => String(l.msg).startsWith('takeover: done'));
      expect(summary).toMatchObject({ rows: later.length, spaceRows: later.filter((r) => r.space).length });
      await withDb(db, server.ts, async (a) => {
        expect(await serverMismatches(a, later, expectedAll)).toEqual([]);
        expect(await logCounts(a)).toEqual({ total: all.length, unmerged: 0 });
      });
      for (const d of devices) expect(await d.sync(server.ts), d.clientId).toEqual([]);
      expect(devices.flatMap((d) => d.mismatches(expectedAll))).toEqual([]);
    }, 60_000);

    it('a takeover that crashes midway keeps the batches it committed, and the next start completes it', async () => {
      const users = ['dora', 'emil'].map((u) => `${u}-${tag}`);
      const rows = new GoWriter(users, 7).rows(2000, GO_START);
      const db = await goDatabase(rows);
      let batches = 0;
      const crash = () => {
        if (++batches === 3) throw new Error('injected crash in batch 3');
      };
      await expect(start(db, { batchSize: 300, beforeCommit: crash })).rejects.toThrow('injected crash');

      // Exactly two batches are in: their rows merged, and the records are those rows' fold.
      await withDb(db, null, async (a) => {
        expect(await logCounts(a)).toEqual({ total: rows.length, unmerged: rows.length - 600 });
        const merged = new Set(
          (
            await a
              .maintenance()
              .query<{ id: string }>(sql`SELECT id::text AS id FROM sync_changes WHERE merged`)
          ).map((r) => r.id),
        );
        const done = rows.filter((r) => merged.has(r.id));
        expect(await serverMismatches(a, done, fold(done))).toEqual([]);
      });

      const { ts, takeoverLines } = await start(db, { batchSize: 300, progressEveryMs: 0 });
      expect(takeoverLines().at(-1)).toMatchObject({ rows: rows.length - 600 });
      // Progress lines as it goes: users done of all, rows, rate.
      const progress = takeoverLines().filter((l) => l.msg === 'takeover: progress');
      expect(progress.length).toBeGreaterThanOrEqual(4);
      expect(progress.at(-1)).toMatchObject({ usersDone: 2, usersTotal: 2, rowsTotal: rows.length - 600 });
      expect(progress.every((l) => typeof l.rowsPerSecond === 'number' && typeof l.rows === 'number')).toBe(
        true,
      );
      await withDb(db, ts, async (a) => {
        expect(await serverMismatches(a, rows, fold(rows))).toEqual([]);
        expect(await logCounts(a)).toEqual({ total: rows.length, unmerged: 0 });
      });
      // A device that never synced gets every record of its user.
      const expected = fold(rows);
      const fresh = new WebDevice(users[0]!, 'fresh-device');
      expect(await fresh.sync(ts)).toEqual([]);
      expect(fresh.mismatches(expected)).toEqual([]);
      // Deleted records it never had stay away (the web app skips their delete); the rest arrive.
      const live = [...expected].filter(
        ([k, r]) => k.startsWith(`${users[0]}/`) && !isDeletedValue(r.fields.get('deletedAt')?.value),
      );
      expect(fresh.local.size).toBe(live.length);
    }, 60_000);
  });
}
