import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { LwwModel, stateLines } from './model/lww-model.js';
import { canonical, parseWire } from './model/time.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';
import { startRawIssuer } from './raw-issuer.js';

/**
 * Isolation: two users on one server, same app, same tables, same record ids. Nothing one
 * does — pushes, pulls, cursors, headers, query parameters — lets them read, overwrite or
 * learn (through conflicts or echoes) anything of the other's.
 */

interface Sc {
  table: string;
  id: string;
  fields: Record<string, { value: unknown; updatedAt: string }>;
}
let probes = 0;
const T0 = Date.UTC(2024, 0, 1) * 1000;

describe('isolation between users', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite(), { serviceKey: 'service-secret-123' });
  });
  afterAll(async () => {
    await ts?.close();
    report('isolation', { probes });
  });

  const push = async (
    user: string,
    changes: unknown[],
    extra: Record<string, unknown> = {},
    headers = {},
  ) => {
    probes++;
    const res = await ts.request(user, `/sync/todo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ clientId: `${user}-c`, changes, ...extra }),
    });
    return { status: res.status, body: (await res.json()) as { serverChanges: Sc[]; conflicts: unknown[] } };
  };
  const pullAll = async (user: string, table: string, query: Record<string, string> = {}, headers = {}) => {
    const out: Sc[] = [];
    let since: string | undefined;
    for (let guard = 0; guard < 100; guard++) {
      probes++;
      const q = new URLSearchParams({ collection: table, limit: '3', ...query, ...(since ? { since } : {}) });
      const res = await ts.request(user, `/sync/todo/pull?${q}`, { headers });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { serverChanges: Sc[]; syncedUntil: string; hasMore: boolean };
      out.push(...body.serverChanges);
      since = body.syncedUntil;
      if (!body.hasMore) return out;
    }
    throw new Error('pull did not end');
  };
  const field = (value: unknown, at: number) => ({ value, updatedAt: canonical(T0 + at * 1000) });
  const upd = (id: string, value: unknown, at: number) => ({
    table: 'tasks',
    id,
    op: 'update',
    fields: { secret: field(value, at) },
  });

  it('a user never sees, overwrites or hears of the other user’s records', async () => {
    expect((await push('alice', [upd('r1', 'alice-1', 10), upd('r2', 'alice-2', 10)])).status).toBe(200);

    // Bob pulls from the start, with every cursor and page size: nothing of Alice's.
    expect(await pullAll('bob', 'tasks')).toEqual([]);
    expect(await pullAll('bob', 'tasks', { since: '1970-01-01T00:00:00Z', limit: '10000' })).toEqual([]);
    // Bob's push answer holds nothing of Alice's, and his older write to the same id is no
    // conflict with hers: it is stored, as his other device's push answer (from the start) shows.
    const older = await push('bob', [upd('r1', 'bob-old', 1)], { since: '1970-01-01T00:00:00Z' });
    expect(older.body.conflicts).toEqual([]);
    expect(older.body.serverChanges).toEqual([]); // his own write is not sent back to him
    const tablet = await push('bob', [], { clientId: 'bob-tablet', since: '1970-01-01T00:00:00Z' });
    expect(tablet.body.serverChanges.map((c) => c.fields.secret!.value)).toEqual(['bob-old']);
    const newer = await push('bob', [upd('r2', 'bob-new', 99)], { clientId: 'bob-phone' });
    expect(newer.body.serverChanges.map((c) => [c.id, c.fields.secret!.value])).toEqual([['r1', 'bob-old']]);
    expect(JSON.stringify(newer.body)).not.toContain('alice');

    // Alice's records are untouched by Bob's writes to the same ids.
    const alice = await pullAll('alice', 'tasks');
    expect(alice.map((c) => [c.id, c.fields.secret!.value]).sort()).toEqual([
      ['r1', 'alice-1'],
      ['r2', 'alice-2'],
    ]);
  });

  it('query parameters and headers naming another user change nothing', async () => {
    await push('carol', [upd('c1', 'carol-secret', 5)]);
    for (const key of ['user_id', 'userId', 'sub', 'user']) {
      const query: Record<string, string> = { [key]: 'carol' };
      expect(JSON.stringify(await pullAll('dave', 'tasks', query))).not.toContain('carol');
    }
    // X-User-Id without the service key is ignored: the token decides.
    expect(JSON.stringify(await pullAll('dave', 'tasks', {}, { 'x-user-id': 'carol' }))).not.toContain(
      'carol',
    );
    const viaHeader = await push('dave', [upd('c1', 'dave-value', 50)], {}, { 'x-user-id': 'carol' });
    expect(viaHeader.status).toBe(200);
    const carol = await pullAll('carol', 'tasks');
    expect(carol.map((c) => c.fields.secret!.value)).toEqual(['carol-secret']);
    // A wrong service key with X-User-Id is refused, not downgraded to the token.
    const wrongKey = await push('dave', [], {}, { 'x-service-key': 'guess', 'x-user-id': 'carol' });
    expect(wrongKey.status).toBe(401);
    // Body fields naming a user are not part of the protocol and are ignored.
    const bodyUser = await push('dave', [], {
      userId: 'carol',
      user_id: 'carol',
      since: '1970-01-01T00:00:00Z',
    });
    expect(JSON.stringify(bodyUser.body)).not.toContain('carol');
  });

  const params = fcParams(40);
  it(
    'random interleavings of two users on the same ids: each sees exactly their own LWW state',
    async () => {
      const op = fc.record({
        user: fc.constantFrom(0, 1),
        id: fc.constantFrom('x', 'y'),
        value: fc.constantFrom('p', 'q', 'r'),
        tick: fc.nat({ max: 5 }),
      });
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
          const users = [`iso-a-${run}`, `iso-b-${run++}`];
          const models = [new LwwModel(), new LwwModel()];
          for (const o of ops) {
            const r = await push(users[o.user]!, [upd(o.id, `${o.user}:${o.value}`, o.tick)]);
            expect(r.status).toBe(200);
            models[o.user]!.applyBatch(
              [
                {
                  table: 'tasks',
                  id: o.id,
                  writes: [{ name: 'secret', value: `${o.user}:${o.value}`, at: T0 + o.tick * 1000 }],
                },
              ],
              `${users[o.user]}-c`,
            );
          }
          for (const u of [0, 1]) {
            const got = await pullAll(users[u]!, 'tasks');
            const state = new Map(
              got.map((c) => [
                `${c.table}/${c.id}`,
                new Map(
                  Object.entries(c.fields).map(([k, f]) => [
                    k,
                    { value: f.value as never, at: parseWire(f.updatedAt) },
                  ]),
                ),
              ]),
            );
            expect(stateLines(state)).toEqual(stateLines(models[u]!.records));
          }
        }),
        params,
      );
    },
    timeoutFor(params.numRuns, 500),
  );
});

describe('isolation: subjects that are not well-formed text', () => {
  it('two subjects that differ only in lone surrogates are two users, or refused — never one', async () => {
    // UTF-8 encoding turns every lone surrogate into U+FFFD, so "\ud800" and "\udbff" would
    // land in one partition of the database if the server accepted them.
    const issuer = await startRawIssuer();
    const ts = await startTestServer(await memoryPglite(), { jwksUrl: issuer.jwksUrl });
    try {
      const a = await issuer.tokenFor('"\\ud800"');
      const b = await issuer.tokenFor('"\\udbff"');
      const pushA = await fetch(`${ts.url}/sync/todo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a}` },
        body: JSON.stringify({
          clientId: 'c',
          changes: [
            {
              table: 't',
              id: 'r',
              op: 'update',
              fields: { v: { value: 'A-secret', updatedAt: '2024-01-01T00:00:00Z' } },
            },
          ],
        }),
      });
      const pullB = await fetch(`${ts.url}/sync/todo/pull?collection=t`, {
        headers: { authorization: `Bearer ${b}` },
      });
      probes += 2;
      expect(await pullB.text()).not.toContain('A-secret');
      expect([pushA.status, pullB.status]).toEqual([401, 401]);
    } finally {
      await ts.close();
      await issuer.close();
    }
  });
});
