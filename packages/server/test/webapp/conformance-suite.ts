import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { report } from '../proof/proof-runs.js';
import { APP, newWebAppTally, runWebAppHistory, TABLES } from './history-run.js';
import { OurClient } from './our-client.js';
import { contentOf } from './reference.js';
import { WebAppClient } from './webapp-model.js';
import { iso } from './world-clock.js';

/**
 * The Mana web app's sync engine against this server, run on every store
 * (webapp-conformance.test.ts: PGlite, webapp-conformance.pg.test.ts: PostgreSQL). A model
 * of that engine (webapp-model.ts), two of them and one of our own clients converge to the
 * reference LWW model; the targeted tests pin what the web app needs from every answer.
 *
 * MANA_WEBAPP_SEED replays one history; MANA_WEBAPP_RUNS sets how many run.
 */
const SEED = process.env.MANA_WEBAPP_SEED;
const RUNS = Number(process.env.MANA_WEBAPP_RUNS ?? 3);
const STEPS = 150;

export function webAppConformanceSuite(name: string, makeDb: () => Promise<TestDatabase>) {
  describe(`the web app's sync engine on ${name}`, () => {
    let db: TestDatabase;
    let ts: TestServer;
    const tally = newWebAppTally();
    let users = 0;
    // Field times a few minutes in the past: never clamped, always older than arrival.
    let base = Date.now() - 5 * 60_000;
    const at = (ms: number) => iso(base + ms);

    beforeAll(async () => {
      db = await makeDb();
      ts = await startTestServer(db);
    });
    afterAll(async () => {
      await ts?.close();
      await db?.drop();
      report(`web-app conformance ${name}`, { ...tally });
    });

    function device(user: string, name: string): WebAppClient {
      return new WebAppClient({
        url: ts.url,
        appId: APP,
        tables: TABLES,
        clientId: `${name}-${user}`,
        token: () => ts.token(user),
        retryDelayMs: 20,
      });
    }
    const newUser = () => {
      base += 10_000;
      return `wa-${++users}-${Math.random().toString(36).slice(2, 8)}`;
    };
    const record = (w: WebAppClient, table: string, id: string) => w.store.get(table)?.get(id);

    it('two web apps (one polling, one on the stream) and one of our clients converge to the reference LWW model', async () => {
      const seeds = SEED
        ? [Number(SEED)]
        : Array.from({ length: RUNS }, () => Math.floor(Math.random() * 2 ** 31));
      for (const seed of seeds) await runWebAppHistory(ts, seed, STEPS, tally);
      expect(tally.histories).toBe(seeds.length);
    }, 60_000);

    it('(a) an update for a new id reaches another web app as a record with its fields as properties', async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.queue({
        table: 'todos',
        id: 'new-1',
        op: 'update',
        fields: { title: { value: 'Buy milk', updatedAt: at(1) } },
      });
      await a.push();
      await b.pull('todos');
      expect(b.dropped).toEqual([]);
      expect(contentOf(record(b, 'todos', 'new-1')), 'the record the web app stored').toEqual({
        title: 'Buy milk',
      });
      expect(record(b, 'todos', 'new-1')?.__fieldTimestamps.title).toBe(at(1));
    });

    it('(b) an insert carrying data takes its updatedAt as field time everywhere; a later update wins everywhere', async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.insert('todos', 'ins-1', { title: 'from A', done: false }, at(10));
      await a.push();
      await b.pull('todos');
      expect(b.dropped).toEqual([]);
      expect(contentOf(record(b, 'todos', 'ins-1')), 'the record B stored').toEqual({
        title: 'from A',
        done: false,
        createdAt: at(10),
        updatedAt: at(10),
      });
      expect(record(b, 'todos', 'ins-1')?.__fieldTimestamps).toMatchObject({ title: at(10), done: at(10) });

      // One millisecond later, on the other device: it must win on every device and on the server.
      b.update('todos', 'ins-1', { title: 'from B' }, at(11));
      await b.push();
      await a.pull('todos');
      const reader = device(user, 'reader');
      await reader.pull('todos');
      const ours = await OurClient.start(ts, user, APP, TABLES);
      try {
        await ours.sync();
        const everywhere = {
          'web app A': record(a, 'todos', 'ins-1')?.title,
          'web app B': record(b, 'todos', 'ins-1')?.title,
          'a fresh web app': record(reader, 'todos', 'ins-1')?.title,
          'our client': (await ours.db.table('todos').get('ins-1'))?.title,
        };
        expect(everywhere).toEqual({
          'web app A': 'from B',
          'web app B': 'from B',
          'a fresh web app': 'from B',
          'our client': 'from B',
        });
        expect(record(reader, 'todos', 'ins-1')?.__fieldTimestamps).toMatchObject({
          title: at(11),
          done: at(10),
        });
      } finally {
        await ours.close();
      }
      expect([...a.dropped, ...reader.dropped]).toEqual([]);
    });

    it("(c) the caller's own changes are not in its push answers or its pulls", async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.insert('todos', 'own-1', { title: 'A title', done: false }, at(20));
      a.insert('notes', 'own-2', { text: 'A note' }, at(21));
      const first = await a.push();
      expect(first?.body.serverChanges, "A's push answer holds only A's own records").toEqual([]);

      await b.pullAll();
      b.update('todos', 'own-1', { done: true }, at(22));
      const bAnswer = await b.push();
      const bDone = (bAnswer?.body.serverChanges ?? []).filter(
        (sc) => (sc as { fields?: Record<string, { value: unknown }> }).fields?.done?.value === true,
      );
      expect(bDone, "B's own field in B's push answer").toEqual([]);

      // Every change A receives: nothing of what A wrote itself, B's field yes.
      const ownWrites = new Set(['title', 'done', 'createdAt', 'updatedAt', 'text']);
      const seen: unknown[] = [];
      for (const page of await a.pullAll()) seen.push(...(page.body.serverChanges ?? []));
      // From the start too, as a reinstalled app with the same clientId would.
      const again = device(user, 'a');
      for (const page of await again.pullAll()) seen.push(...(page.body.serverChanges ?? []));
      const echoed: string[] = [];
      for (const sc of seen as Array<{ id: string; fields?: Record<string, { value: unknown }> }>) {
        for (const [field, f] of Object.entries(sc.fields ?? {})) {
          if (ownWrites.has(field) && !(sc.id === 'own-1' && field === 'done')) {
            echoed.push(`${sc.id}.${field}=${JSON.stringify(f.value)}`);
          }
        }
      }
      expect(echoed, "A's own fields sent back to A").toEqual([]);
      expect(record(a, 'todos', 'own-1')?.done, "B's field reached A").toBe(true);
      expect(contentOf(record(again, 'todos', 'own-1')), 'what a reinstalled A pulls of own-1').toEqual({
        done: true,
      });
      expect(record(again, 'notes', 'own-2'), "own-2 holds only A's fields: not sent at all").toBeUndefined();
      expect([...a.dropped, ...b.dropped, ...again.dropped]).toEqual([]);
    });

    it('(d) deletes arrive as soft deletes', async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.insert('todos', 'del-1', { title: 'doomed', done: false }, at(30));
      a.insert('todos', 'del-2', { title: 'stays', done: false }, at(31));
      await a.push();
      await b.pull('todos');
      expect(contentOf(record(b, 'todos', 'del-1')), 'B has the record before the delete').toEqual({
        title: 'doomed',
        done: false,
        createdAt: at(30),
        updatedAt: at(30),
      });
      a.delete('todos', 'del-1', at(32));
      await a.push();
      await b.pull('todos');
      const rec = record(b, 'todos', 'del-1');
      expect(rec?.deletedAt, 'B soft-deleted the record at the delete time').toBe(at(32));
      expect(rec?.title, 'a soft delete keeps the row').toBe('doomed');
      expect([...b.visible().keys()]).toEqual(['todos/del-2']);
      // A device that never saw the record has nothing to delete and shows nothing.
      const c = device(user, 'c');
      await c.pull('todos');
      expect([...c.visible().keys()]).toEqual(['todos/del-2']);
      expect([...b.dropped, ...c.dropped]).toEqual([]);
    });

    it("(e) a push whose answer starts before another device's edit of the same field keeps the pusher's later write", async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.insert('todos', 'late-1', { title: 'first', done: false }, at(50));
      await a.push();
      await b.pull('todos');
      b.update('todos', 'late-1', { title: 'by B' }, at(51));
      await b.push();
      // A has not pulled B's change: its push answer starts before it. The answer's page is read
      // before A's write, so it may carry B's older title; the web app's per-field times keep A's.
      a.update('todos', 'late-1', { title: 'by A, later' }, at(52));
      await a.push();
      expect(record(a, 'todos', 'late-1')?.title, "A's title after its push").toBe('by A, later');

      // The same for our client, which keeps no per-field times for settled fields.
      const ours = await OurClient.start(ts, user, APP, TABLES);
      try {
        await ours.sync();
        b.update('todos', 'late-1', { done: true }, at(53));
        await b.push();
        await ours.update('todos', 'late-1', { title: 'by ours, latest' }, base + 54);
        await ours.sync();
        await b.pull('todos');
        await a.pull('todos');
        const everywhere = {
          'web app A': contentOf(record(a, 'todos', 'late-1')),
          'web app B': contentOf(record(b, 'todos', 'late-1')),
          'our client': contentOf(await ours.db.table('todos').get('late-1')),
        };
        const expected = { title: 'by ours, latest', done: true, createdAt: at(50), updatedAt: at(50) };
        expect(everywhere).toEqual({ 'web app A': expected, 'web app B': expected, 'our client': expected });
      } finally {
        await ours.close();
      }
      expect([...a.dropped, ...b.dropped]).toEqual([]);
    });

    it('the SSE stream: catch-up, then live changes blocks; cursors move; nothing of its own comes back', async () => {
      const user = newUser();
      const a = device(user, 'a');
      const b = device(user, 'b');
      a.insert('todos', 's-1', { title: 'one', done: false }, at(40));
      a.insert('todos', 's-2', { title: 'two', done: true }, at(41));
      a.insert('notes', 's-3', { text: 'three' }, at(42));
      await a.push();

      const stream = b.stream(['todos', 'notes']);
      try {
        const status = await stream.firstStatus;
        expect(
          status,
          `GET /sync/${APP}/stream?collections=todos,notes answered ${status}: with no event stream the web app falls back to polling`,
        ).toBe(200);
        await eventually(() =>
          expect([...b.visible().keys()].sort()).toEqual(['notes/s-3', 'todos/s-1', 'todos/s-2']),
        );
        expect(contentOf(record(b, 'todos', 's-2'))).toEqual({
          title: 'two',
          done: true,
          createdAt: at(41),
          updatedAt: at(41),
        });
        expect(b.cursor('todos'), 'the todos cursor moved').not.toBe('1970-01-01T00:00:00.000Z');
        expect(b.cursor('notes'), 'the notes cursor moved').not.toBe('1970-01-01T00:00:00.000Z');

        // Live: A edits, B sees it without pulling.
        a.update('todos', 's-1', { title: 'one, edited' }, at(43));
        await a.push();
        await eventually(() => expect(record(b, 'todos', 's-1')?.title).toBe('one, edited'));

        // B's own write is not streamed back to B; A's next one is.
        b.update('todos', 's-2', { title: 'two, by B' }, at(44));
        await b.push();
        a.update('notes', 's-3', { text: 'three, edited' }, at(45));
        await a.push();
        await eventually(() => expect(record(b, 'notes', 's-3')?.text).toBe('three, edited'));
        const echoed = stream.blocks.flatMap((blk) =>
          ((blk.changes ?? []) as Array<{ id: string; fields?: Record<string, { value: unknown }> }>).filter(
            (sc) => sc.fields?.title?.value === 'two, by B',
          ),
        );
        expect(echoed, "B's own write streamed back to B").toEqual([]);
        expect(b.dropped).toEqual([]);
      } finally {
        stream.close();
      }
    });
  });
}

/** Polls until `check` passes (assertion errors retried) for up to 5 s. */
async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
