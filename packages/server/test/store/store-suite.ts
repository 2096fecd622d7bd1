import { type Canonical, type Change, EPOCH, LIMITS, type ValueType } from '@mana/sync-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, sql } from '../../src/db/sql.js';
import { pageStatement } from '../../src/store/page.js';
import { createSyncStore, type PushInput } from '../../src/store/sync-store.js';
import { openTestStore, type TestDatabase, type TestStore } from '../helpers/databases.js';

/**
 * The one store suite, run on every store: `store.test.ts` (PGlite) and `store.pg.test.ts`
 * (PostgreSQL). Each test uses its own user id, so tests share one store.
 */
export function storeSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`sync store on ${name}`, () => {
    let db: TestDatabase;
    let store: TestStore;
    let n = 0;
    const user = () => `user-${++n}-${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      db = await makeDb();
      store = await openTestStore(db);
    });
    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    const push = (userId: string, changes: Change[], extra: Partial<PushInput> = {}) =>
      store.push({
        userId,
        appId: 'todo',
        clientId: 'c1',
        since: EPOCH,
        changes,
        nowMicros: Date.now() * 1000,
        maxSkewMicros: 60_000_000,
        limit: 1000,
        ...extra,
      });
    const upd = (id: string, fields: Record<string, [unknown, string]>, table = 'tasks'): Change => ({
      table,
      id,
      op: 'update',
      fields: Object.fromEntries(
        Object.entries(fields).map(([k, [value, updatedAt]]) => [k, { value, updatedAt }]),
      ),
    });

    it('applies migrations idempotently and answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('stores a record and pulls its merged state with a canonical cursor', async () => {
      const u = user();
      const r = await push(u, [upd('a', { title: ['Buy milk', '2024-01-01T10:05:00Z'] })]);
      expect(r.changesAccepted).toBe(1);
      expect(r.tablesChanged).toEqual(['tasks']);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pull.serverChanges).toHaveLength(1);
      expect(pull.serverChanges[0]).toMatchObject({
        table: 'tasks',
        id: 'a',
        op: 'update',
        // Field times with milliseconds when the microseconds are zero (wireTime).
        fields: { title: { value: 'Buy milk', updatedAt: '2024-01-01T10:05:00.000Z' } },
      });
      expect(pull.serverChanges[0]!.eventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(pull.syncedUntil).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(pull.syncedUntil).toBe(pull.serverChanges[0]!.updatedAt);
    });

    it('logs one row per accepted change, with only the fields that change won', async () => {
      const u = user();
      const at = (s: number) => `2024-01-01T10:00:0${s}Z`;
      await push(u, [
        upd('new-once', { title: ['A', at(1)], done: [false, at(1)] }),
        upd('new-twice', { title: ['B', at(1)] }),
        upd('new-twice', { done: [true, at(2)] }),
        upd('stored', { title: ['C', at(5)], done: [false, at(5)] }),
      ]);
      await push(
        u,
        [
          upd('stored', { title: ['C2', at(6)], done: [true, at(4)] }),
          { table: 'tasks', id: 'new-once', op: 'delete', deletedAt: at(7) } as Change,
        ],
        { clientId: 'c2' },
      );
      // A retry of the same push changes nothing and logs nothing.
      await push(u, [upd('stored', { title: ['C2', at(6)] })], { clientId: 'c2' });
      const log = await store.db.forUser(u).query<Record<string, unknown>>(sql`
        SELECT record_id, op, data, field_timestamps, client_id FROM sync_changes
        WHERE user_id = ${u} ORDER BY client_id, record_id, data::text`);
      const ts = (s: number) => `2024-01-01T10:00:0${s}.000000Z`;
      // One expected log row: each field's value and the second of its timestamp.
      const row = (id: string, op: string, fields: Record<string, [unknown, number]>, client: string) => ({
        record_id: id,
        op,
        data: Object.fromEntries(Object.entries(fields).map(([f, [v]]) => [f, v])),
        field_timestamps: Object.fromEntries(Object.entries(fields).map(([f, [, s]]) => [f, ts(s)])),
        client_id: client,
      });
      expect(log).toEqual([
        row('new-once', 'update', { title: ['A', 1], done: [false, 1] }, 'c1'),
        row('new-twice', 'update', { done: [true, 2] }, 'c1'),
        row('new-twice', 'update', { title: ['B', 1] }, 'c1'),
        row('stored', 'update', { title: ['C', 5], done: [false, 5] }, 'c1'),
        row('new-once', 'delete', { deletedAt: [ts(7), 7] }, 'c2'),
        row('stored', 'update', { title: ['C2', 6] }, 'c2'),
      ]);
    });

    it('keeps fields named like inherited properties (__proto__, constructor) in the state, the log and pages', async () => {
      const u = user();
      // As JSON.parse makes them: `__proto__` an own property.
      const fields = JSON.parse(
        '{"__proto__":{"value":{"x":1},"updatedAt":"2024-01-01T10:00:00Z"},"constructor":{"value":2,"updatedAt":"2024-01-01T10:00:00Z"}}',
      );
      // Twice in one batch: the second change's log row carries its fields apart (logEntry).
      const second = JSON.parse('{"__proto__":{"value":{"x":3},"updatedAt":"2024-01-01T10:00:01Z"}}');
      await push(u, [
        { table: 'tasks', id: 'odd', op: 'update', fields },
        { table: 'tasks', id: 'odd', op: 'update', fields: second },
      ]);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      const got = pull.serverChanges[0]!.fields;
      expect(Object.keys(got).sort()).toEqual(['__proto__', 'constructor']);
      expect(Object.getOwnPropertyDescriptor(got, '__proto__')?.value.value).toEqual({ x: 3 });
      const log = await store.db.forUser(u).query<{ keys: string[] }>(sql`
        SELECT array(SELECT jsonb_object_keys(data) ORDER BY 1) AS keys FROM sync_changes
        WHERE user_id = ${u} ORDER BY field_timestamps->>'__proto__'`);
      expect(log.map((r) => r.keys)).toEqual([['__proto__', 'constructor'], ['__proto__']]);
    });

    it("stores a field's value type beside it and sends it back; a write without one clears it; the log keeps it", async () => {
      const u = user();
      const at = (s: number) => `2024-01-01T10:00:0${s}Z`;
      const meta: { value: unknown; type: ValueType } = {
        value: { tags: ['a', 'b'], seen: '2024-05-01T10:00:00.123Z' },
        type: { k: { tags: 'Set', seen: 'Date' } },
      };
      const typed: Change = {
        table: 'tasks',
        id: 't',
        op: 'update',
        fields: {
          due: { value: '2024-05-01T10:00:00.123Z', updatedAt: at(1), type: 'Date' },
          meta: { ...meta, updatedAt: at(1) },
          title: { value: 'plain', updatedAt: at(1) },
        },
      };
      // Pushed by c1, answered to c2 (same push's own answer leaves c1's fields out).
      await push(u, [typed]);
      const answer = await push(u, [], { clientId: 'c2' });
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      for (const fields of [answer.serverChanges[0]!.fields, pull.serverChanges[0]!.fields]) {
        expect(fields.due).toEqual({
          value: '2024-05-01T10:00:00.123Z',
          updatedAt: '2024-01-01T10:00:01.000Z',
          type: 'Date',
        });
        expect(fields.meta).toEqual({ ...meta, updatedAt: '2024-01-01T10:00:01.000Z' });
        expect(fields.title).toEqual({ value: 'plain', updatedAt: '2024-01-01T10:00:01.000Z' });
      }

      // The same value and time without the type is no retry but a conflict, told with both types.
      const tie = await push(
        u,
        [
          {
            table: 'tasks',
            id: 't',
            op: 'update',
            fields: { meta: { value: meta.value, updatedAt: at(1) } },
          },
        ],
        {
          clientId: 'c2',
        },
      );
      expect(tie.conflicts).toEqual([
        expect.objectContaining({
          field: 'meta',
          clientValue: meta.value,
          serverValue: meta.value,
          serverType: meta.type,
        }),
      ]);
      expect(tie.conflicts[0]).not.toHaveProperty('clientType');

      // A JSON-only client writes the field again, without a type: the old type goes.
      await push(u, [upd('t', { due: ['next week', at(2)] })], { clientId: 'web' });
      const after = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(after.serverChanges[0]!.fields.due).toEqual({
        value: 'next week',
        updatedAt: '2024-01-01T10:00:02.000Z',
      });
      expect(after.serverChanges[0]!.fields.meta!.type).toEqual(meta.type);
      await push(u, [upd('t', { meta: [{ tags: [] }, at(3)] })], { clientId: 'web' });
      const [record] = await store.db.forUser(u).query<{ field_types: unknown }>(sql`
        SELECT field_types FROM sync_records WHERE user_id = ${u} AND record_id = 't'`);
      // No field with a type left: the column is null, not an empty object.
      expect(record!.field_types).toBeNull();

      // History keeps each change's types.
      const log = await store.db.forUser(u).query<{ client_id: string; field_types: unknown }>(sql`
        SELECT client_id, field_types FROM sync_changes WHERE user_id = ${u} ORDER BY created_at, client_id`);
      expect(log.map((r) => [r.client_id, r.field_types])).toEqual([
        ['c1', { due: 'Date', meta: meta.type }],
        ['web', null],
        ['web', null],
      ]);
    });

    it('keeps the types of a record written twice in one batch apart in its log rows', async () => {
      const u = user();
      const field = (value: unknown, s: number, type?: unknown) => ({
        value,
        updatedAt: `2024-01-01T10:00:0${s}Z`,
        ...(type === undefined ? {} : { type }),
      });
      await push(u, [
        { table: 'tasks', id: 'b', op: 'update', fields: { n: field('1', 1, 'BigInt') } } as Change,
        {
          table: 'tasks',
          id: 'b',
          op: 'update',
          fields: { d: field(null, 2, 'undefined'), t: field('x', 2) },
        } as Change,
      ]);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      const f = pull.serverChanges[0]!.fields;
      expect([f.n!.type, f.d!.type, f.t!.type]).toEqual(['BigInt', 'undefined', undefined]);
      const log = await store.db.forUser(u).query<{ field_types: unknown }>(sql`
        SELECT field_types FROM sync_changes WHERE user_id = ${u} ORDER BY field_timestamps::text`);
      // Ordered by the text of field_timestamps: d's row (10:00:02) sorts before n's.
      expect(log.map((r) => r.field_types)).toEqual([{ d: 'undefined' }, { n: 'BigInt' }]);
    });

    it('merges different fields and keeps the later timestamp per field', async () => {
      const u = user();
      await push(u, [
        upd('a', { title: ['Buy milk', '2024-01-01T10:05:00Z'], completed: [true, '2024-01-01T10:06:00Z'] }),
      ]);
      const r = await push(u, [
        upd('a', { title: ['Buy eggs', '2024-01-01T10:05:30Z'], completed: [false, '2024-01-01T10:05:59Z'] }),
      ]);
      expect(r.conflicts).toEqual([
        {
          table: 'tasks',
          id: 'a',
          field: 'completed',
          clientValue: false,
          clientUpdatedAt: '2024-01-01T10:05:59.000Z',
          serverValue: true,
          serverUpdatedAt: '2024-01-01T10:06:00.000Z',
        },
      ]);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      const f = pull.serverChanges[0]!.fields;
      expect(f.title!.value).toBe('Buy eggs');
      expect(f.completed!.value).toBe(true);
    });

    it('writes nothing for a retried push', async () => {
      const u = user();
      const change = upd('a', { title: ['x', '2024-01-01T10:05:00Z'] });
      const first = await push(u, [change]);
      const again = await push(u, [change], { since: first.syncedUntil });
      expect(again.changesAccepted).toBe(0);
      expect(again.conflicts).toEqual([]);
      expect(again.serverChanges).toEqual([]);
      expect(again.syncedUntil).toBe(first.syncedUntil);
    });

    it('merges a record touched twice in one batch, in order', async () => {
      const u = user();
      const r = await push(u, [
        upd('a', { title: ['one', '2024-01-01T10:00:00Z'] }),
        upd('a', { title: ['two', '2024-01-01T10:01:00Z'], note: ['n', '2024-01-01T10:00:00Z'] }),
        upd('a', { title: ['stale', '2024-01-01T09:00:00Z'] }),
      ]);
      expect(r.changesAccepted).toBe(2);
      expect(r.conflicts.map((c) => c.clientValue)).toEqual(['stale']);
      // The pushing client's own writes are not echoed; another client gets the record once.
      expect(r.serverChanges).toHaveLength(0);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pull.serverChanges).toHaveLength(1);
      expect(pull.serverChanges[0]!.fields.title!.value).toBe('two');
    });

    it('pages a pull by limit without losing or repeating a record', async () => {
      const u = user();
      const changes = Array.from({ length: 57 }, (_, i) => upd(`r${i}`, { i: [i, '2024-01-01T10:00:00Z'] }));
      await push(u, changes.slice(0, 30));
      await push(u, changes.slice(30));
      const seen: string[] = [];
      let since: Canonical = EPOCH;
      for (let guard = 0; guard < 100; guard++) {
        const page = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since, limit: 7 });
        seen.push(...page.serverChanges.map((c) => c.id));
        since = page.syncedUntil;
        if (!page.hasMore) break;
      }
      expect(seen).toHaveLength(57);
      expect(new Set(seen).size).toBe(57);
    });

    it("pages a push response across the app's tables in position order, no record lost or repeated", async () => {
      const u = user();
      const tables = ['a.notes', 'lists', 'tasks', 'z_tags'];
      // Interleaved positions: batch k writes one record to each table, tables in turn.
      for (let k = 0; k < 9; k++)
        await push(
          u,
          tables.map((t, j) => upd(`${t}-${k}`, { v: [k * 10 + j, '2024-01-01T10:00:00Z'] }, t)),
        );
      await push(u, [upd('elsewhere', { v: [1, '2024-01-01T10:00:00Z'] })], { appId: 'calendar' });
      const expected = Array.from({ length: 9 }, (_, k) => tables.map((t) => `${t}-${k}`)).flat();

      const seen: string[] = [];
      const at: string[] = [];
      let since: Canonical = EPOCH;
      for (let guard = 0; guard < 100; guard++) {
        // A push with nothing to write answers the app's page after `since`, like a pull.
        const page = await push(u, [], { since, limit: 5, clientId: 'reader' });
        const positions = page.serverChanges.map((c) => c.updatedAt);
        expect([...positions].sort()).toEqual(positions);
        expect(page.serverChanges.length).toBeLessThanOrEqual(5);
        seen.push(...page.serverChanges.map((c) => c.id));
        at.push(...positions);
        since = page.syncedUntil;
        if (!page.hasMore) break;
      }
      expect(seen).toEqual(expected);

      // A page whose own writes come after the stored records of every table.
      // Its own record is left out of its answer, and the cursor still moves past it.
      const mixed = await push(u, [upd('tasks-new', { v: [1, '2024-01-01T10:00:00Z'] })], {
        since: at.at(-3) as Canonical,
        clientId: 'c9',
      });
      expect(mixed.serverChanges.map((c) => c.id)).toEqual(expected.slice(-2));
      expect(mixed.syncedUntil > at.at(-1)!).toBe(true);
      expect(mixed.hasMore).toBe(false);
      const after = await store.pull({
        userId: u,
        appId: 'todo',
        table: 'tasks',
        since: at.at(-1) as Canonical,
        limit: 10,
      });
      expect(after.serverChanges.map((c) => [c.id, c.updatedAt])).toEqual([['tasks-new', mixed.syncedUntil]]);
    });

    it('gives each record write a strictly increasing position per user', async () => {
      const u = user();
      await push(u, [
        upd('a', { v: [1, '2024-01-01T10:00:00Z'] }),
        upd('b', { v: [1, '2024-01-01T10:00:00Z'] }),
      ]);
      await push(u, [upd('a', { v: [2, '2024-01-01T10:00:01Z'] })]);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      const positions = pull.serverChanges.map((c) => c.updatedAt);
      expect(pull.serverChanges.map((c) => c.id)).toEqual(['b', 'a']);
      expect([...positions].sort()).toEqual(positions);
      expect(new Set(positions).size).toBe(positions.length);
    });

    it('keeps users and apps apart', async () => {
      const a = user();
      const b = user();
      await push(a, [upd('secret', { v: ['a', '2024-01-01T10:00:00Z'] })]);
      await push(a, [upd('other-app', { v: ['a', '2024-01-01T10:00:00Z'] })], { appId: 'calendar' });
      const pb = await store.pull({ userId: b, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pb.serverChanges).toEqual([]);
      const rb = await push(b, [upd('secret', { v: ['b', '2024-01-01T09:00:00Z'] })]);
      expect(rb.conflicts).toEqual([]);
      const pa = await store.pull({ userId: a, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pa.serverChanges.map((c) => [c.id, c.fields.v!.value])).toEqual([['secret', 'a']]);
    });

    it('loses no field when one user pushes to one record concurrently', async () => {
      // Each push reads the stored record after taking the user's lock; a read from before the
      // lock would overwrite the other pushes' fields with a stale merge.
      const u = user();
      const fields = Array.from({ length: 20 }, (_, i) => `f${i}`);
      await Promise.all(
        fields.map((f, i) =>
          push(u, [upd('shared', { [f]: [i, `2024-01-01T10:00:${String(i).padStart(2, '0')}Z`] })]),
        ),
      );
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pull.serverChanges).toHaveLength(1);
      expect(Object.keys(pull.serverChanges[0]!.fields).sort()).toEqual([...fields].sort());
    });

    // A push reads, merges, then writes only if no other push of the user wrote in between
    // (sync-store.ts). Here another push always does: it runs to its end right after the
    // first push's read, through a store whose database runs it at that moment.
    for (const userExisted of [false, true]) {
      it(`merges a push again under the lock when another push of the user wrote after its read (user ${userExisted ? 'known' : 'new'})`, async () => {
        const u = user();
        if (userExisted) await push(u, [upd('seed', { v: [0, '2024-01-01T09:00:00Z'] })]);
        let overtake: (() => Promise<unknown>) | undefined = () =>
          push(
            u,
            [
              upd('shared', { b: ['B', '2024-01-01T10:00:01Z'] }),
              upd('other', { x: ['B', '2024-01-01T10:00:01Z'] }),
            ],
            { clientId: 'c2' },
          );
        let reads = 0; // the unlocked push's reads
        // The unlocked push's transaction (its read and guarded write) runs here statement by
        // statement, each as the user: the other push cannot run inside an open transaction on
        // PGlite, one connection. Its statements need no common transaction (the write is
        // guarded); the locked push that follows gets a real one.
        let unlocked = true;
        const racing: Db = {
          ...store.db,
          forUser(userId) {
            const scoped = store.db.forUser(userId);
            const statementwise: Db = {
              ...scoped,
              async query<Row>(q: { text: string; values: unknown[] }) {
                const rows = await scoped.query<Row>(q as never);
                const run = overtake;
                if (q.text.includes(' AS kind')) reads++;
                if (run && q.text.includes(' AS kind')) {
                  overtake = undefined;
                  await run();
                }
                return rows;
              },
            };
            return {
              ...statementwise,
              transaction(fn) {
                if (!unlocked) return scoped.transaction(fn);
                unlocked = false;
                return fn(statementwise);
              },
            };
          },
        };
        const racingStore = createSyncStore(racing);
        const first = await racingStore.push({
          userId: u,
          appId: 'todo',
          clientId: 'c1',
          since: EPOCH,
          changes: [upd('shared', { a: ['A', '2024-01-01T10:00:00Z'] })],
          nowMicros: Date.now() * 1000,
          maxSkewMicros: 60_000_000,
          limit: 1000,
        });
        expect(overtake).toBeUndefined(); // the other push did run in between
        expect(first.overtaken).toBe(true);

        // The response has the other push's records, then this push's with the other push's
        // field (its own, `a`, is what it sent: left out).
        // A record written by the other push and then by this one is sent once, as this push
        // left it, at its new position (its page row, read before the write, is left out).
        const ids = first.serverChanges.map((c) => c.id);
        expect(ids.slice(-2)).toEqual(['other', 'shared']);
        expect(first.serverChanges.find((c) => c.id === 'shared')!.fields).toEqual({
          b: { value: 'B', updatedAt: '2024-01-01T10:00:01.000Z' },
        });
        const positions = first.serverChanges.map((c) => c.updatedAt);
        expect([...positions].sort()).toEqual(positions);
        expect(first.syncedUntil).toBe(positions.at(-1));

        // The write that lost the race wrote nothing: one log row per change.
        const log = await store.db.forUser(u).query<{ client_id: string; n: number }>(sql`
          SELECT client_id, count(*)::int AS n FROM sync_changes
          WHERE user_id = ${u} AND record_id IN ('shared', 'other') GROUP BY client_id ORDER BY client_id`);
        expect(log).toEqual([
          { client_id: 'c1', n: 1 },
          { client_id: 'c2', n: 2 },
        ]);
        const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(pull.serverChanges.map((c) => c.id)).toEqual([
          ...(userExisted ? ['seed'] : []),
          'other',
          'shared',
        ]);

        // For the next second the user's pushes take the lock first: no read goes to waste.
        const again = await racingStore.push({
          userId: u,
          appId: 'todo',
          clientId: 'c1',
          since: first.syncedUntil as Canonical,
          changes: [upd('shared', { a: ['A2', '2024-01-01T10:00:02Z'] })],
          nowMicros: Date.now() * 1000,
          maxSkewMicros: 60_000_000,
          limit: 1000,
        });
        expect(reads).toBe(1);
        expect(again.overtaken).toBe(false);
        expect(again.serverChanges.map((c) => [c.id, Object.keys(c.fields)])).toEqual([['shared', ['b']]]);
      });
    }

    it("hands every pushing client every record when one user's clients push at once", async () => {
      // Each client follows the user's records only through its push answers (pages of 3)
      // and pulls after them; a page that skipped a record would leave it out for good, as
      // records here are never written twice.
      const u = user();
      const clients = 6;
      const pushes = 20;
      const all = new Set<string>();
      let pushing = clients;
      let allPushed!: () => void;
      const pushed = new Promise<void>((r) => (allPushed = r));
      const follow = async (c: number) => {
        const seen = new Set<string>();
        let since = EPOCH as Canonical;
        const take = (page: { serverChanges: Array<{ id: string }>; syncedUntil: string }) => {
          for (const change of page.serverChanges) seen.add(change.id);
          since = page.syncedUntil as Canonical;
        };
        const catchUp = async () => {
          for (;;) {
            const page = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since, limit: 3 });
            take(page);
            if (!page.hasMore) return;
          }
        };
        for (let n = 0; n < pushes; n++) {
          const ids = [`c${c}-${n}-a`, `c${c}-${n}-b`];
          for (const id of ids) all.add(id);
          // A client holds what it writes: the server does not echo it back.
          for (const id of ids) seen.add(id);
          const answer = await push(
            u,
            ids.map((id) => upd(id, { v: [n, '2024-01-01T10:00:00Z'] })),
            {
              clientId: `c${c}`,
              since,
              limit: 3,
            },
          );
          take(answer);
          if (answer.hasMore) await catchUp();
        }
        if (--pushing === 0) allPushed();
        await pushed;
        await catchUp();
        return seen;
      };
      const views = await Promise.all(Array.from({ length: clients }, (_, c) => follow(c)));
      expect(all.size).toBe(clients * pushes * 2);
      for (const seen of views) expect([...seen].sort()).toEqual([...all].sort());
    });

    it('writes new and stored records of one batch alike (insert for one, update for the other)', async () => {
      const u = user();
      const first = await push(u, [upd('old', { title: ['first', '2024-01-01T10:00:00Z'] })]);
      const r = await push(
        u,
        [
          upd('old', { done: [true, '2024-01-01T10:01:00Z'] }),
          upd('new', { title: ['new', '2024-01-01T10:01:00Z'] }),
        ],
        { since: first.syncedUntil, clientId: 'c2' },
      );
      expect(r.changesAccepted).toBe(2);
      // c2 gets what c1 wrote (old's title), never an insert, and nothing of its own.
      expect(r.serverChanges.map((c) => [c.id, c.op, Object.keys(c.fields)])).toEqual([
        ['old', 'update', ['title']],
      ]);
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(Object.fromEntries(pull.serverChanges.map((c) => [c.id, c.fields]))).toEqual({
        old: {
          title: { value: 'first', updatedAt: '2024-01-01T10:00:00.000Z' },
          done: { value: true, updatedAt: '2024-01-01T10:01:00.000Z' },
        },
        new: { title: { value: 'new', updatedAt: '2024-01-01T10:01:00.000Z' } },
      });
    });

    describe('the Mana web app contract (echo, record time, actors, events)', () => {
      it('leaves out exactly the fields the asking client wrote, and skips a record with none left', async () => {
        const u = user();
        await push(u, [upd('mine', { title: ['A', '2024-01-01T10:00:00Z'] })], { clientId: 'a' });
        await push(u, [upd('both', { title: ['A', '2024-01-01T10:00:00Z'] })], { clientId: 'a' });
        await push(u, [upd('both', { done: [true, '2024-01-01T10:00:01Z'] })], { clientId: 'b' });
        // b's later edit of a's field makes it b's; a's remaining field stays a's.
        await push(u, [upd('both', { note: ['n', '2024-01-01T10:00:02Z'] })], { clientId: 'a' });
        await push(u, [upd('both', { title: ['B', '2024-01-01T10:00:03Z'] })], { clientId: 'b' });
        const page = (clientId: string | null) =>
          store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10, clientId });
        const all = await page(null);
        const forA = await page('a');
        const forB = await page('b');
        const fields = (p: typeof all) =>
          Object.fromEntries(p.serverChanges.map((c) => [c.id, Object.keys(c.fields).sort()]));
        expect(fields(all)).toEqual({ mine: ['title'], both: ['done', 'note', 'title'] });
        expect(fields(forA)).toEqual({ both: ['done', 'title'] });
        expect(fields(forB)).toEqual({ mine: ['title'], both: ['note'] });
        // A skipped record still moves the cursor: every page ends at the same position.
        expect(forA.syncedUntil).toBe(all.syncedUntil);
        expect(forB.syncedUntil).toBe(all.syncedUntil);
        const onlyMine = await store.pull({
          userId: u,
          appId: 'todo',
          table: 'tasks',
          since: EPOCH,
          limit: 1,
          clientId: 'a',
        });
        expect(onlyMine.serverChanges).toEqual([]);
        expect(onlyMine.hasMore).toBe(true);
        expect(onlyMine.syncedUntil).toBe(all.serverChanges[0]!.updatedAt);
      });

      it("gives an insert's data fields the record's own time (updatedAt, else createdAt), clamped", async () => {
        const u = user();
        const now = Date.now() * 1000;
        await push(u, [
          {
            table: 'tasks',
            id: 'up',
            op: 'insert',
            data: {
              title: 'x',
              createdAt: '2024-01-01T09:00:00.000Z',
              updatedAt: '2024-01-01T10:00:00.000Z',
            },
          },
          {
            table: 'tasks',
            id: 'cr',
            op: 'insert',
            data: { title: 'y', createdAt: '2024-01-01T09:00:00.000Z' },
          },
          {
            table: 'tasks',
            id: 'future',
            op: 'insert',
            data: { title: 'z', updatedAt: '2999-01-01T00:00:00.000Z' },
          },
          { table: 'tasks', id: 'none', op: 'insert', data: { title: 'w' } },
        ]);
        const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        const at = Object.fromEntries(pull.serverChanges.map((c) => [c.id, c.fields.title!.updatedAt]));
        expect(at.up).toBe('2024-01-01T10:00:00.000Z');
        expect(at.cr).toBe('2024-01-01T09:00:00.000Z');
        for (const id of ['future', 'none']) {
          const micros = Date.parse(at[id]!) * 1000;
          expect(Math.abs(micros - now)).toBeLessThan(10_000_000);
        }
        // A later field edit elsewhere wins over the insert's time, as on the web app.
        await push(u, [upd('up', { title: ['edited', '2024-01-01T10:00:00.001Z'] })], { clientId: 'c2' });
        const again = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(again.serverChanges.find((c) => c.id === 'up')!.fields.title!.value).toBe('edited');
      });

      it('sends a record the push rewrites once, as written, never an older value of a field it just set', async () => {
        const u = user();
        await push(
          u,
          [upd('r', { title: ['A', '2024-01-01T10:00:00Z'], note: ['a', '2024-01-01T10:00:00Z'] })],
          {
            clientId: 'a',
          },
        );
        const r = await push(u, [upd('r', { note: ['b', '2024-01-01T10:00:05Z'] })], { clientId: 'b' });
        expect(r.serverChanges.map((c) => [c.id, c.fields])).toEqual([
          ['r', { title: { value: 'A', updatedAt: '2024-01-01T10:00:00.000Z' } }],
        ]);
        const after = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(r.syncedUntil).toBe(after.syncedUntil);
      });

      it('soft-deletes on a deletedAt of any op and sends deletes as op delete with deletedAt', async () => {
        const u = user();
        await push(u, [upd('d', { title: ['t', '2024-01-01T10:00:00Z'] })]);
        await push(u, [{ table: 'tasks', id: 'd', op: 'update', deletedAt: '2024-01-01T11:00:00.000Z' }]);
        const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(pull.serverChanges[0]).toMatchObject({
          op: 'delete',
          deletedAt: '2024-01-01T11:00:00.000Z',
          fields: { deletedAt: { updatedAt: '2024-01-01T11:00:00.000Z' } },
        });
        // Undeleted: an update whose deletedAt field is null, and no top-level deletedAt at all.
        await push(u, [upd('d', { deletedAt: [null, '2024-01-01T12:00:00Z'] })]);
        const live = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(live.serverChanges[0]!.op).toBe('update');
        expect('deletedAt' in live.serverChanges[0]!).toBe(false);
      });

      it('stores actors per field and the schema version per log row; eventId names the latest log row', async () => {
        const u = user();
        const agent = { kind: 'ai', name: 'planner' };
        const person = { kind: 'user' };
        await push(u, [
          {
            ...upd('r', { title: ['t', '2024-01-01T10:00:00Z'], done: [false, '2024-01-01T10:00:00Z'] }),
            actor: person,
          },
        ]);
        await push(
          u,
          [{ ...upd('r', { done: [true, '2024-01-01T10:00:05Z'] }), actor: agent, schemaVersion: 1 }],
          {
            clientId: 'c2',
          },
        );
        const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        const change = pull.serverChanges[0]!;
        expect(change.fields.title!.actor).toEqual(person);
        expect(change.fields.done!.actor).toEqual(agent);
        expect(change.actor).toEqual(agent); // the newest field's
        const log = await store.db.forUser(u).query<{
          id: string;
          actor: unknown;
          schema_version: number;
          merged: boolean;
        }>(sql`
          SELECT id::text, actor, schema_version, merged FROM sync_changes WHERE user_id = ${u} ORDER BY created_at, client_id`);
        expect(log.map((r) => [r.actor, r.schema_version, r.merged])).toEqual([
          [person, 1, true],
          [agent, 1, true],
        ]);
        expect(change.eventId).toBe(log[1]!.id);
        // A field written again without an actor loses its old one.
        await push(u, [upd('r', { title: ['t2', '2024-01-01T10:00:06Z'] })], { clientId: 'c2' });
        const after = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
        expect(after.serverChanges[0]!.fields.title!.actor).toBeUndefined();
        expect(after.serverChanges[0]!.actor).toBeUndefined();
      });
    });

    it('keeps planner statistics within a factor of two of the table as it grows (no waiting for autovacuum)', async () => {
      const u = user();
      const rows = async () =>
        (
          await store.db.maintenance().query<{ analyzed: number; actual: number }>(
            sql`SELECT (SELECT reltuples::float8 FROM pg_class WHERE oid = 'sync_records'::regclass) AS analyzed,
                       (SELECT count(*)::float8 FROM sync_records) AS actual`,
          )
        )[0]!;
      for (let b = 0; b < 3; b++) {
        const changes = Array.from({ length: 400 }, (_, k) =>
          upd(`grow-${b}-${k}`, { title: [`t${k}`, '2024-01-01T10:00:00Z'] }),
        );
        await push(u, changes);
      }
      // ANALYZE runs in the background after the push that crossed the threshold.
      const fresh = (r: { analyzed: number; actual: number }) =>
        r.actual >= 1200 && r.analyzed * 2 >= r.actual;
      const deadline = Date.now() + 20_000;
      while (!fresh(await rows()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(fresh(await rows())).toBe(true);
    });

    it('analyzes only the columns statements filter or order by, bytewise on the key columns', async () => {
      const u = user();
      await push(
        u,
        Array.from({ length: 200 }, (_, k) => upd(`stat-${k}`, { title: [`t${k}`, '2024-01-01T10:00:00Z'] })),
      );
      await store.db.exec('ANALYZE sync_records');
      // pg_stats hides the statistics of a table whose rows row-level security filters for the
      // reader: read them with the policies not forced on the owner, then force them again.
      const analyzed = await store.db.transaction(async (tx) => {
        await tx.exec('ALTER TABLE sync_records NO FORCE ROW LEVEL SECURITY');
        const rows = await tx.query<{ attname: string }>(
          sql`SELECT attname FROM pg_stats WHERE tablename = 'sync_records' AND schemaname = current_schema() ORDER BY attname`,
        );
        await tx.exec('ALTER TABLE sync_records FORCE ROW LEVEL SECURITY');
        return rows;
      });
      // user_id has none since migration 0002; the jsonb columns cost the most to analyze.
      expect(analyzed.map((r) => r.attname)).toEqual(['app_id', 'record_id', 'table_name', 'updated_at']);
      const collations = await store.db.query<{ attname: string; collname: string }>(sql`
        SELECT a.attname, c.collname FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation
        WHERE a.attrelid = 'sync_records'::regclass AND a.attname IN ('user_id', 'app_id', 'table_name', 'record_id')`);
      expect(collations.map((r) => r.collname)).toEqual(['C', 'C', 'C', 'C']);
    });

    it("probes the primary key for a user the statistics have not seen, not the user's other records", async () => {
      const big = user();
      const newcomer = user();
      for (let b = 0; b < 4; b++)
        await push(
          big,
          Array.from({ length: 500 }, (_, k) => upd(`big-${b}-${k}`, { v: [k, '2024-01-01T10:00:00Z'] })),
        );
      await store.db.exec('ANALYZE sync_records');
      await push(
        newcomer,
        Array.from({ length: 300 }, (_, k) => upd(`n-${k}`, { v: [k, '2024-01-01T10:00:00Z'] })),
      );
      // The shape of the push's read of the records it touches (store/sync-store.ts).
      const plan = await store.db.query<Record<string, unknown>>(sql`
        EXPLAIN (FORMAT JSON)
        SELECT r.record_id, r.data
        FROM jsonb_to_recordset(${JSON.stringify([{ t: 'tasks', i: 'n-1' }])}::text::jsonb) AS k(t text, i text)
        CROSS JOIN LATERAL (
          SELECT * FROM sync_records s
          WHERE s.user_id = ${newcomer} AND s.app_id = 'todo' AND s.table_name = k.t AND s.record_id = k.i
          LIMIT 1
        ) r`);
      const text = JSON.stringify(plan);
      expect(text).toContain('sync_records_pkey');
      expect(text).not.toContain('sync_records_pull');
    });

    it('runs its sessions with generic plans and without bitmap scans (db/sql.ts)', async () => {
      const rows = await store.db.query<{ generic: string; bitmap: string }>(
        sql`SELECT current_setting('plan_cache_mode') AS generic, current_setting('enable_bitmapscan') AS bitmap`,
      );
      expect(rows).toEqual([{ generic: 'force_generic_plan', bitmap: 'off' }]);
    });

    it("reads a big user's pages in index order, never all of the user's records at once", async () => {
      const big = user();
      for (let b = 0; b < 3; b++)
        await push(
          big,
          ['tasks', 'lists'].flatMap((t) =>
            Array.from({ length: 500 }, (_, k) =>
              upd(`${t}-${b}-${k}`, { v: [k, '2024-01-01T10:00:00Z'] }, t),
            ),
          ),
        );
      await store.db.exec('ANALYZE sync_records');
      // The planner takes the user for 0.5 % of the table, far fewer than a page: a bitmap scan of
      // every record of the user plus a sort looked cheaper than the ordered scan (db/sql.ts).
      for (const table of ['tasks', null]) {
        const q = pageStatement({ userId: big, appId: 'todo', table, since: EPOCH, limit: 1000 });
        const plan = JSON.stringify(
          await store.db.query({ text: `EXPLAIN (FORMAT JSON) ${q.text}`, values: q.values }),
        );
        expect(plan).toContain('sync_records_pull');
        expect(plan).not.toContain('Bitmap');
      }
    });

    describe('byte budget of a page (PAGE_MAX_BYTES)', () => {
      /** Makes the user's records `ids` (table tasks) `bytes` long through SQL, as the user. */
      const enlarge = (u: string, ids: string[], bytes: number) =>
        store.db.forUser(u).query(sql`
          UPDATE sync_records SET data = jsonb_set(data, '{blob}', to_jsonb(repeat('x', ${bytes}::text::int)))
          WHERE user_id = ${u} AND app_id = 'todo' AND record_id = ANY(string_to_array(${ids.join(',')}, ','))`);
      const sizeOf = (changes: unknown[]) =>
        changes.reduce<number>((n, c) => n + JSON.stringify(c).length, 0);

      it('stops a pull at the budget as well as at the limit, the cursor exact, and sends a larger record alone', async () => {
        const u = user();
        const ids = Array.from({ length: 10 }, (_, i) => `r${i}`);
        await push(
          u,
          ids.map((id, i) =>
            upd(id, { blob: ['x', '2024-01-01T10:00:00Z'], i: [i, '2024-01-01T10:00:00Z'] }),
          ),
        );
        await enlarge(u, ids, 3000);
        await enlarge(u, ['r4'], 25_000); // larger than the whole budget
        const seen: string[] = [];
        const pages: number[] = [];
        let since: Canonical = EPOCH;
        for (let guard = 0; guard < 20; guard++) {
          const page = await store.pull({
            userId: u,
            appId: 'todo',
            table: 'tasks',
            since,
            limit: 1000,
            maxBytes: 10_000,
          });
          pages.push(page.serverChanges.length);
          if (page.serverChanges.some((c) => c.id === 'r4')) expect(page.serverChanges).toHaveLength(1);
          else expect(sizeOf(page.serverChanges)).toBeLessThanOrEqual(10_000);
          seen.push(...page.serverChanges.map((c) => c.id));
          expect(page.syncedUntil).toBe(page.serverChanges.at(-1)!.updatedAt);
          since = page.syncedUntil;
          if (!page.hasMore) break;
        }
        expect(seen).toEqual(ids);
        // 3 records of about 3 KB a page, then r4 alone: never the whole app in one answer.
        expect(pages).toEqual([3, 1, 1, 3, 2]);
      });

      it("stops a push's answer at the budget, its own writes included, and pages on to the end", async () => {
        const u = user();
        const ids = Array.from({ length: 8 }, (_, i) => `p${i}`);
        await push(
          u,
          ids.map((id) => upd(id, { blob: ['x', '2024-01-01T10:00:00Z'] })),
        );
        await enlarge(u, ids, 4000);
        const first = await push(u, [], { since: EPOCH, clientId: 'reader', maxBytes: 10_000 });
        expect(first.serverChanges.map((c) => c.id)).toEqual(['p0', 'p1']);
        expect(first.hasMore).toBe(true);
        expect(first.syncedUntil).toBe(first.serverChanges[1]!.updatedAt);
        // A push that writes: the stored page within the budget, its own write later.
        const second = await push(u, [upd('mine', { v: [1, '2024-01-01T10:00:00Z'] })], {
          since: first.syncedUntil,
          clientId: 'writer',
          maxBytes: 10_000,
        });
        expect(second.serverChanges.map((c) => c.id)).toEqual(['p2', 'p3']);
        expect(second.hasMore).toBe(true);
        const seen = [...first.serverChanges, ...second.serverChanges].map((c) => c.id);
        let since = second.syncedUntil;
        for (let guard = 0; guard < 20; guard++) {
          const page = await push(u, [], { since, clientId: 'reader', maxBytes: 10_000 });
          seen.push(...page.serverChanges.map((c) => c.id));
          since = page.syncedUntil;
          if (!page.hasMore) break;
        }
        expect(seen).toEqual([...ids, 'mine']);
      });
    });

    describe('size and shape limits of a record (LIMITS)', () => {
      const t0 = '2024-01-01T10:00:00Z';
      const t1 = '2024-01-01T11:00:00Z';
      const pulled = async (u: string) =>
        (await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 }))
          .serverChanges;

      it('refuses a value, a record or a field count over the limit, naming the change; nothing of the batch is written', async () => {
        const u = user();
        const ok = upd('ok', { v: [1, t0] });
        // A value of exactly the limit is taken (a 256 KiB file inlined as base64 fits in it).
        const atLimit = 'a'.repeat(LIMITS.maxValueLength - 2);
        await expect(push(u, [upd('edge', { v: [atLimit, t0] })])).resolves.toMatchObject({
          changesAccepted: 1,
        });
        await expect(push(u, [ok, upd('big', { v: [`${atLimit}a`, t0] })])).rejects.toMatchObject({
          code: 'RECORD_TOO_LARGE',
          path: 'changes.1.fields.v',
        });
        const wide = Object.fromEntries(
          Array.from({ length: LIMITS.maxFieldsPerRecord + 1 }, (_, i) => [
            `f${i}`,
            [i, t0] as [unknown, string],
          ]),
        );
        await expect(push(u, [ok, upd('wide', wide)])).rejects.toMatchObject({
          code: 'TOO_MANY_FIELDS',
          path: 'changes.1',
        });
        // Three values under the value limit, together over the record limit, in two changes.
        const third = 'c'.repeat(400_000);
        await expect(
          push(u, [ok, upd('long', { a: [third, t0], b: [third, t0] }), upd('long', { c: [third, t0] })]),
        ).rejects.toMatchObject({ code: 'RECORD_TOO_LARGE', path: 'changes.2' });
        expect((await pulled(u)).map((c) => c.id)).toEqual(['edge']);
      });

      it('keeps a record imported over the limits editable, refusing only growth', async () => {
        const u = user();
        await push(u, [upd('imported', { a: ['x', t0] })]);
        // 1,100 fields of 1,000 characters: over the field count and the record size.
        await store.db.forUser(u).query(sql`
          UPDATE sync_records SET
            data = data || (SELECT jsonb_object_agg('f' || i, repeat('z', 1000)) FROM generate_series(1, 1100) i),
            field_timestamps = field_timestamps
              || (SELECT jsonb_object_agg('f' || i, field_timestamps->'a') FROM generate_series(1, 1100) i)
          WHERE user_id = ${u} AND record_id = 'imported'`);
        await expect(push(u, [upd('imported', { a: ['y', t1] })])).resolves.toMatchObject({
          changesAccepted: 1,
        });
        await expect(push(u, [upd('imported', { f1: ['shorter', t1] })])).resolves.toMatchObject({
          changesAccepted: 1,
        });
        await expect(push(u, [upd('imported', { g: ['new', t1] })])).rejects.toMatchObject({
          code: 'TOO_MANY_FIELDS',
          path: 'changes.0',
        });
        await expect(
          push(u, [upd('imported', { a: ['y'.repeat(2000), '2024-01-01T12:00:00Z'] })]),
        ).rejects.toMatchObject({
          code: 'RECORD_TOO_LARGE',
          path: 'changes.0',
        });
        const [record] = await pulled(u);
        expect(record!.fields.a!.value).toBe('y');
        expect(record!.fields.f1!.value).toBe('shorter');
        expect(record!.fields.g).toBeUndefined();
      });
    });

    it("reads the app's page (a push's answer) at O(page + tables) rows, not limit + 1 per table", async () => {
      type Node = { 'Relation Name'?: string; 'Actual Rows': number; 'Actual Loops': number; Plans?: Node[] };
      const rowsRead = (n: Node): number =>
        (n['Relation Name'] === 'sync_records' ? n['Actual Rows'] * n['Actual Loops'] : 0) +
        (n.Plans ?? []).reduce((sum, c) => sum + rowsRead(c), 0);
      const limit = 50;
      const cases = {
        // Each table written in one batch, as apps write: few runs.
        blocks: { tables: 40, perTable: 60, interleaved: false },
        // Every table in turn, one record each: a run a record.
        interleaved: { tables: 10, perTable: 20, interleaved: true },
      };
      for (const [name, c] of Object.entries(cases)) {
        const u = user();
        const tables = Array.from({ length: c.tables }, (_, t) => `t${String(t).padStart(2, '0')}`);
        if (c.interleaved)
          for (let k = 0; k < c.perTable; k++)
            await push(
              u,
              tables.map((t) => upd(`${t}-${k}`, { v: [k, '2024-01-01T10:00:00Z'] }, t)),
            );
        else
          for (const t of tables)
            await push(
              u,
              Array.from({ length: c.perTable }, (_, k) =>
                upd(`${t}-${k}`, { v: [k, '2024-01-01T10:00:00Z'] }, t),
              ),
            );
        const q = pageStatement({ userId: u, appId: 'todo', table: null, since: EPOCH, limit });
        const [row] = await store.db.forUser(u).query<Record<string, unknown>>({
          text: `EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`,
          values: q.values,
        });
        const raw = Object.values(row!)[0];
        const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: Node }>;
        const read = rowsRead(plan[0]!.Plan);
        // Today's statement read limit + 1 rows of every table: 40 × 51 and 10 × 20.
        expect(read, name).toBeLessThanOrEqual(3 * (limit + 1) + 3 * c.tables);
        // And it is the page: the first limit + 1 records of the app in position order.
        const page = await push(u, [], { limit, clientId: 'reader' });
        const expected = c.interleaved
          ? Array.from({ length: c.perTable }, (_, k) => tables.map((t) => `${t}-${k}`)).flat()
          : tables.flatMap((t) => Array.from({ length: c.perTable }, (_, k) => `${t}-${k}`));
        expect(
          page.serverChanges.map((x) => x.id),
          name,
        ).toEqual(expected.slice(0, limit));
        expect(page.hasMore).toBe(true);
      }
    });

    it('rolls back the whole batch when a statement fails', async () => {
      const u = user();
      const bad = { ...upd('b', { v: [1, '2024-01-01T10:00:00Z'] }), op: 'explode' } as unknown as Change;
      await expect(push(u, [upd('a', { v: [1, '2024-01-01T10:00:00Z'] }), bad])).rejects.toThrow();
      const pull = await store.pull({ userId: u, appId: 'todo', table: 'tasks', since: EPOCH, limit: 10 });
      expect(pull.serverChanges).toEqual([]);
    });
  });
}
