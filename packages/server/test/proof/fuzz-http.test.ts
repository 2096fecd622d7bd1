import { ERROR_CODES, pullResponseSchema, pushRequestSchema, pushResponseSchema } from '@mana/sync-protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../src/db/sql.js';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import {
  hostileArb,
  keyArb,
  mutate,
  mutationArb,
  rawBodyArb,
  resolve,
  validPushArb,
} from './fuzz/arbitraries.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';
import { startRawIssuer } from './raw-issuer.js';

/**
 * Protocol fuzzing over real HTTP. For every input: a 2xx whose body matches the wire
 * schema, or a 4xx with an error code whose status is that code's status. Never a 5xx,
 * never a hang (each request has a deadline), and a refused push writes nothing at all
 * (each push uses a fresh user, whose rows are counted afterwards).
 */

const inputs = { pushBodies: 0, rawBodies: 0, queries: 0, headers: 0, paths: 0, accepted: 0, refused: 0 };
let userSeq = 0;

async function expectWellFormed(res: Response, kind: 'push' | 'pull' | 'other', input: unknown) {
  const text = await res.text();
  const where = `${res.status} ${text.slice(0, 300)} for ${JSON.stringify(input)?.slice(0, 300)}`;
  if (res.status >= 500) throw new Error(`server error ${where}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    if (res.status === 204 || (res.status < 300 && kind === 'other')) return res.status;
    throw new Error(`not JSON: ${where}`);
  }
  if (res.status >= 400) {
    inputs.refused++;
    const code = (body as { error?: { code?: string } }).error?.code;
    if (!code || !(code in ERROR_CODES)) throw new Error(`no error code: ${where}`);
    if (ERROR_CODES[code as keyof typeof ERROR_CODES] !== res.status)
      throw new Error(`code/status mismatch: ${where}`);
  } else {
    inputs.accepted++;
    const schema = kind === 'push' ? pushResponseSchema : kind === 'pull' ? pullResponseSchema : null;
    if (schema && !schema.safeParse(body).success)
      throw new Error(`response breaks the wire schema: ${where}`);
  }
  return res.status;
}

describe('protocol fuzzing (HTTP)', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await ts?.close();
    report('fuzz-http', {
      ...inputs,
      total: inputs.pushBodies + inputs.rawBodies + inputs.queries + inputs.headers + inputs.paths,
    });
  });

  const rows = async (userId: string) => {
    const [r] = await ts.server.db!.forUser(userId).query<{ records: number; changes: number }>(sql`
      SELECT (SELECT count(*) FROM sync_records WHERE user_id = ${userId})::int AS records,
             (SELECT count(*) FROM sync_changes WHERE user_id = ${userId})::int AS changes`);
    return r!;
  };

  /** Sends a push as a fresh user; checks the answer and that the store holds all of it or none. */
  async function fuzzPush(body: string, input: unknown, headers: Record<string, string> = {}) {
    const user = `fuzz-${++userSeq}`;
    const res = await ts.request(user, '/sync/todo', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      signal: AbortSignal.timeout(20_000),
    });
    const status = await expectWellFormed(res, 'push', input);
    const stored = await rows(user);
    if (status >= 400) {
      expect(stored, `a refused push wrote rows: ${body.slice(0, 200)}`).toEqual({ records: 0, changes: 0 });
      return;
    }
    // Accepted: every record the batch sets a field of is there (a fresh user has nothing to lose to).
    // The server decodes the body as UTF-8, which drops a byte-order mark. A deletedAt
    // timestamp soft-deletes on any op.
    const parsed = pushRequestSchema.parse(JSON.parse(body.replace(/^\uFEFF/, '')));
    const touched = parsed.changes.filter(
      (c) =>
        Object.keys(c.fields ?? {}).length > 0 ||
        Object.keys(c.data ?? {}).length > 0 ||
        c.op === 'delete' ||
        typeof c.deletedAt === 'string',
    );
    const keys = new Set(touched.map((c) => `${c.table}\u0000${c.id}`));
    expect(stored.records).toBe(keys.size);
    // The push's answer leaves out the pushing client's own records, so the records go out
    // on pulls naming no client: each table's pull is well-formed and holds all of them.
    for (const table of new Set(touched.map((c) => c.table))) {
      const pull = await ts.request(user, `/sync/todo/pull?${new URLSearchParams({ collection: table })}`, {
        signal: AbortSignal.timeout(20_000),
      });
      const copy = pull.clone();
      expect(await expectWellFormed(pull, 'pull', input)).toBe(200);
      const page = pullResponseSchema.parse(await copy.json());
      expect(page.serverChanges.length).toBe([...keys].filter((k) => k.startsWith(`${table}\u0000`)).length);
    }
  }

  const pushParams = fcParams(300);
  it(
    'mutated push bodies: 2xx or coded 4xx, all-or-nothing',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          validPushArb,
          fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
          async (valid, muts) => {
            const body = muts.reduce<unknown>((b, m) => mutate(b, m), valid);
            inputs.pushBodies++;
            await fuzzPush(JSON.stringify(body) ?? 'undefined', body);
          },
        ),
        pushParams,
      );
    },
    timeoutFor(pushParams.numRuns, 200),
  );

  const rawParams = fcParams(100);
  it(
    'raw and malformed bodies: duplicated keys, BOM, truncation, binary, deep nesting',
    async () => {
      await fc.assert(
        fc.asyncProperty(rawBodyArb, async (body) => {
          inputs.rawBodies++;
          await fuzzPush(body, body);
        }),
        rawParams,
      );
    },
    timeoutFor(rawParams.numRuns, 200),
  );

  it('valid pushes with duplicated changes, numbers as ids and hostile values', async () => {
    const change = {
      table: 'tasks',
      id: 'r1',
      op: 'update',
      fields: { t: { value: 'x', updatedAt: '2024-01-01T00:00:00Z' } },
    };
    const cases: unknown[] = [
      { clientId: 'c1', changes: Array(500).fill(change) },
      { clientId: 'c1', changes: [change, { ...change, id: 123 }] },
      { clientId: 123, changes: [change] },
      {
        clientId: 'c1',
        changes: [
          change,
          { ...change, fields: { t: { value: '\ud800', updatedAt: '2024-01-01T00:00:00Z' } } },
        ],
      },
      {
        clientId: 'c1',
        changes: [
          change,
          { ...change, fields: { t: { value: 'x'.repeat(5_000_000), updatedAt: '2024-01-01T00:00:01Z' } } },
        ],
      },
      { clientId: 'c1', changes: Array(10_001).fill(change) },
    ];
    for (const c of cases) {
      inputs.pushBodies++;
      await fuzzPush(JSON.stringify(c), c);
    }
    inputs.pushBodies++;
    await fuzzPush(
      `{"clientId":"c1","changes":[],"pad":"${'x'.repeat(11 * 1024 * 1024)}"}`,
      'body over 10 MB',
    );
  });

  const queryParams = fcParams(200);
  it(
    'pull query strings: wrong types, repeats, encodings',
    async () => {
      const value = fc.oneof(
        hostileArb.map((h) => {
          const v = resolve(h);
          // Node's HTTP parser answers 431 itself to URLs over 16 KB, before the app (see below).
          return (typeof v === 'string' ? v : (JSON.stringify(v) ?? '')).slice(0, 2000);
        }),
        fc.constantFrom(
          'tasks',
          '1',
          '10000',
          '10001',
          '0',
          '-1',
          '1e3',
          '0x10',
          '2024-01-01T00:00:00Z',
          '%',
          '%zz',
        ),
      );
      const pair = fc.tuple(fc.oneof(fc.constantFrom('collection', 'since', 'limit'), keyArb), value);
      await fc.assert(
        fc.asyncProperty(fc.array(pair, { maxLength: 5 }), fc.boolean(), async (pairs, raw) => {
          inputs.queries++;
          const query = raw
            ? pairs.map(([k, v]) => `${k}=${v}`).join('&')
            : new URLSearchParams(pairs.map(([k, v]) => [k, v.replace(/[\ud800-\udfff]/g, '')])).toString();
          let res: Response;
          try {
            res = await ts.request('fuzz-pull', `/sync/todo/pull?${query}`, {
              signal: AbortSignal.timeout(20_000),
            });
          } catch (err) {
            if ((err as Error).name === 'TimeoutError') throw err;
            return; // the client library refused to send it (not a server matter)
          }
          await expectWellFormed(res, 'pull', query);
        }),
        queryParams,
      );
    },
    timeoutFor(queryParams.numRuns, 200),
  );

  const headerParams = fcParams(100);
  it(
    'headers: client id, content type, request id, encodings',
    async () => {
      const latin1 = fc.string({
        unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)),
        maxLength: 300,
      });
      const headerName = fc.constantFrom(
        'x-client-id',
        'content-type',
        'x-request-id',
        'content-encoding',
        'accept',
        'x-user-id',
        'origin',
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(headerName, latin1), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          async (pairs, isPush) => {
            inputs.headers++;
            const headers = Object.fromEntries(pairs);
            const send = isPush
              ? ts.request(`fuzz-h-${++userSeq}`, '/sync/todo', {
                  method: 'POST',
                  body: JSON.stringify({ clientId: 'c1', changes: [] }),
                  headers,
                  signal: AbortSignal.timeout(20_000),
                })
              : ts.request('fuzz-h', '/sync/todo/pull?collection=tasks', {
                  headers,
                  signal: AbortSignal.timeout(20_000),
                });
            const res = await send.catch((err: Error & { cause?: { code?: string } }) => {
              if (err.cause?.code === 'UND_ERR_INVALID_ARG') return null; // the client refused to send it
              throw err;
            });
            if (!res) return;
            await expectWellFormed(res, isPush ? 'push' : 'pull', headers);
          },
        ),
        headerParams,
      );
    },
    timeoutFor(headerParams.numRuns, 200),
  );

  const pathParams = fcParams(100);
  it(
    'paths and methods',
    async () => {
      const segment = fc.oneof(
        fc.constantFrom(
          'todo',
          '%00',
          '%',
          '%zz',
          '..',
          '%2e%2e',
          '%2F',
          'a'.repeat(65),
          '__proto__',
          'constructor',
          '%F0%9F%8E%89',
          '%ED%A0%80',
          '',
          ' ',
        ),
        fc.string({ maxLength: 10 }).map(encodeURIComponent),
      );
      const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
      await fc.assert(
        fc.asyncProperty(
          method,
          segment,
          fc.constantFrom('', '/pull', '/pull/x', '/'),
          async (m, seg, tail) => {
            inputs.paths++;
            const init: RequestInit = { method: m, signal: AbortSignal.timeout(20_000) };
            if (m !== 'GET' && m !== 'HEAD') init.body = JSON.stringify({ clientId: 'c1', changes: [] });
            const res = await ts.request(`fuzz-p-${++userSeq}`, `/sync/${seg}${tail}?collection=tasks`, init);
            if (m === 'HEAD' || m === 'OPTIONS') {
              expect(res.status).toBeLessThan(500);
              return;
            }
            await expectWellFormed(res, 'other', `${m} /sync/${seg}${tail}`);
          },
        ),
        pathParams,
      );
    },
    timeoutFor(pathParams.numRuns, 200),
  );

  it('hostile token subjects: unicode, lone surrogates, long, blank', async () => {
    const subjects = [
      '\ud800',
      'a\udc00',
      'é',
      '🎉'.repeat(60),
      ' ',
      '\u202e',
      'x'.repeat(256),
      "o'hara",
      'a"b\\c',
    ];
    for (const sub of subjects) {
      inputs.headers++;
      const token = await ts.auth.mint(sub);
      const res = await fetch(`${ts.url}/sync/todo`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          clientId: 'c1',
          changes: [
            {
              table: 't',
              id: 'r',
              op: 'update',
              fields: { a: { value: 1, updatedAt: '2024-01-01T00:00:00Z' } },
            },
          ],
        }),
        signal: AbortSignal.timeout(20_000),
      });
      await expectWellFormed(res, 'push', sub);
    }
  });

  it('subjects only a hand-made payload can carry: escaped lone surrogates and NUL', async () => {
    // jose's SignJWT encodes the payload as UTF-8, which replaces lone surrogates; an
    // attacker writes the JSON by hand with \\ud800 escapes. Signed with a key the server trusts.
    const issuer = await startRawIssuer();
    const other = await startTestServer(await memoryPglite(), { jwksUrl: issuer.jwksUrl });
    try {
      for (const escaped of ['\\ud800', 'a\\udfff', '\\u0000', 'ok\\ud83d\\ude00']) {
        inputs.headers++;
        const token = await issuer.tokenFor(`"${escaped}"`);
        const res = await fetch(`${other.url}/sync/todo`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            clientId: 'c1',
            changes: [
              {
                table: 't',
                id: 'r',
                op: 'update',
                fields: { a: { value: 1, updatedAt: '2024-01-01T00:00:00Z' } },
              },
            ],
          }),
          signal: AbortSignal.timeout(20_000),
        });
        await expectWellFormed(res, 'push', escaped);
        const pull = await fetch(`${other.url}/sync/todo/pull?collection=t`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await expectWellFormed(pull, 'pull', escaped);
      }
    } finally {
      await other.close();
      await issuer.close();
    }
  });

  it('oversized URL and headers: Node answers 431 before the app, and the server stays up', async () => {
    inputs.queries++;
    const res = await ts.request('fuzz-big', `/sync/todo/pull?collection=${'x'.repeat(70_000)}`);
    expect(res.status).toBe(431);
  });

  it('is still healthy afterwards', async () => {
    const res = await fetch(`${ts.url}/health`);
    expect(res.status).toBe(200);
  });
});
