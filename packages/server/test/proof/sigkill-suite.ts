import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';
import { pullEverything, startLoad, verifyLoad } from './faults/batch-load.js';
import { type ChildServer, startChildServer } from './faults/child-server.js';
import { report } from './proof-runs.js';

/**
 * SIGKILL in the middle of a load: the server process dies with requests in flight, comes
 * back on the same data, and every acknowledged change is there; no batch is half written.
 * Run on PGlite on disk (faults-sigkill.test.ts) and PostgreSQL (faults-sigkill.pg.test.ts).
 */
export function sigkillSuite(
  name: string,
  setup: () => Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }>,
  kills: number,
) {
  describe(`SIGKILL during a load on ${name}`, () => {
    let auth: AuthService;
    let env: Record<string, string>;
    let cleanup: () => Promise<void> = async () => {};
    const counts = { kills: 0, batchesSent: 0, batchesAcked: 0, changesChecked: 0, lost: 0, halfWritten: 0 };

    beforeAll(async () => {
      auth = await startAuthService();
      const s = await setup();
      env = { ...s.env, JWKS_URL: auth.jwksUrl };
      cleanup = s.cleanup;
    });
    afterAll(async () => {
      await cleanup();
      await auth?.close();
      report(`faults-sigkill ${name}`, counts);
    });

    it(`keeps every acknowledged change across ${kills} kills`, async () => {
      const token = await auth.mint('loader');
      const size = 5;
      let server: ChildServer = await startChildServer(env);
      const loads = [];
      try {
        for (let k = 0; k < kills; k++) {
          let stop = false;
          const load = startLoad({
            url: () => server.url,
            token,
            workers: 4,
            size,
            stop: () => stop,
            prefix: `k${k}-`,
          });
          // Let a few batches be acknowledged, then kill at an arbitrary moment with requests in flight.
          const started = Date.now();
          while (load.result.acked.size < 5 && Date.now() - started < 30_000) {
            await new Promise((r) => setTimeout(r, 20));
          }
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
          await server.kill();
          counts.kills++;
          stop = true;
          await load.done;
          loads.push(load.result);
          server = await startChildServer(env);
        }
        const records = await pullEverything(server.url, token, ['load', 'counters']);
        const acked = new Set(loads.flatMap((l) => [...l.acked]));
        const counters = new Map<number, number>();
        for (const l of loads)
          for (const [w, n] of l.counters) counters.set(w, Math.max(counters.get(w) ?? -1, n));
        const merged = { ...loads[0]!, acked, counters };
        const { problems, changesChecked } = verifyLoad(merged, records, size);
        counts.batchesSent = loads.reduce((s, l) => s + l.sent, 0);
        counts.batchesAcked = acked.size;
        counts.changesChecked = changesChecked;
        counts.lost = problems.filter((p) => p.startsWith('acknowledged') || p.startsWith('counter')).length;
        counts.halfWritten = problems.filter((p) => p.includes('half written')).length;
        expect(loads.flatMap((l) => l.bad)).toEqual([]);
        expect(problems).toEqual([]);
        expect(acked.size).toBeGreaterThan(0);
      } finally {
        await server.kill();
      }
    }, 240_000);
  });
}
