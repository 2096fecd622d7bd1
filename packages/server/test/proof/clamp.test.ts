import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryPglite } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { canonical, parseCanonical, parseWire } from './model/time.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';

/**
 * The clock-skew clamp (DESIGN.md section 4), which the convergence model stays clear of:
 * a timestamp more than 60 s ahead of the server clock is stored as the server's "now", so
 * one fast device cannot win every later conflict; anything else is stored as sent.
 */
const SKEW_US = 60_000_000;
let checked = 0;

describe('clock-skew clamp', () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer(await memoryPglite());
  });
  afterAll(async () => {
    await ts?.close();
    report('clamp', { checked });
  });

  /** Pushes one field at `at`; returns its stored timestamp and the server-clock window of the push. */
  const write = async (
    user: string,
    id: string,
    value: unknown,
    at: number,
    op: 'update' | 'delete' = 'update',
  ) => {
    const before = Math.floor(Date.now()) * 1000;
    const change =
      op === 'delete'
        ? { table: 't', id, op, deletedAt: canonical(at) }
        : { table: 't', id, op, fields: { f: { value, updatedAt: canonical(at) } } };
    const res = await ts.push(user, 'todo', { clientId: 'c', changes: [change] });
    const after = Math.ceil(Date.now()) * 1000;
    expect(res.status).toBe(200);
    const pull = await ts.pull(user, 'todo', { collection: 't' });
    const body = (await pull.json()) as {
      serverChanges: Array<{
        id: string;
        deletedAt?: string;
        fields: Record<string, { value: unknown; updatedAt: string }>;
      }>;
    };
    const rec = body.serverChanges.find((c) => c.id === id)!;
    checked++;
    return { rec, before, after };
  };

  it('clamps a far-future field to the server clock, and a later honest edit beats it', async () => {
    const future = Date.now() * 1000 + 86_400_000_000;
    const { rec, before, after } = await write('clamp-1', 'r', 'fast-device', future);
    const stored = parseWire(rec.fields.f!.updatedAt);
    expect(stored).toBeGreaterThanOrEqual(before);
    expect(stored).toBeLessThanOrEqual(after);
    // An honest device edits a moment later (its own clock, after the clamp): it wins.
    await new Promise((r) => setTimeout(r, 5));
    const honest = await write('clamp-1', 'r', 'honest', Date.now() * 1000);
    expect(honest.rec.fields.f!.value).toBe('honest');
  });

  it('clamps a far-future delete: value and timestamp', async () => {
    const future = Date.now() * 1000 + 3_600_000_000;
    const { rec, before, after } = await write('clamp-2', 'r', null, future, 'delete');
    const at = parseWire(rec.fields.deletedAt!.updatedAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    // The value is the stored (canonical) time, the field's and the change's deletedAt the
    // same instant in the wire form.
    expect(parseCanonical(rec.fields.deletedAt!.value)).toBe(at);
    expect(parseWire(rec.deletedAt)).toBe(at);
  });

  const params = fcParams(60);
  it(
    'stores any offset within the allowed skew as sent, and clamps anything beyond it',
    async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.integer({ min: -3_600_000, max: 59_000 }),
            fc.integer({ min: 61_000, max: 172_800_000 }),
          ),
          fc.nat({ max: 999 }),
          async (offsetMs, micros) => {
            const at = Date.now() * 1000 + offsetMs * 1000 + micros;
            const { rec, before, after } = await write(`clamp-p-${n++}`, 'r', offsetMs, at);
            const stored = parseWire(rec.fields.f!.updatedAt);
            if (at <= before + SKEW_US) expect(stored).toBe(at);
            // The server's clock read falls somewhere in [before, after]: near the limit, either is right.
            else if (stored === at) expect(at).toBeLessThanOrEqual(after + SKEW_US);
            else {
              expect(stored).toBeGreaterThanOrEqual(before);
              expect(stored).toBeLessThanOrEqual(after);
            }
          },
        ),
        params,
      );
    },
    timeoutFor(params.numRuns, 300),
  );
});
