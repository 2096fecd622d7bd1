import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { historyArb } from './model/history.js';
import { newTally, Simulation } from './model/simulation.js';
import { fcParams, report, timeoutFor } from './proof-runs.js';

/**
 * The convergence property, run on every store (convergence.test.ts: PGlite,
 * convergence.pg.test.ts: PostgreSQL): for any history of 3-8 clients editing, deleting,
 * undeleting with skewed clocks, going offline, losing push responses and retrying, and
 * pulling in random page sizes, every client ends with exactly the server's merged state,
 * and that state is the one an independent LWW model computes. Conflicts reported by every
 * push are the ones the model predicts. Clients hold their own writes and apply server
 * changes field by field; every page leaves out exactly the fields its client wrote
 * (DESIGN.md section 12), checked against the model and against the same read naming no
 * client.
 */
export function convergenceSuite(name: string, makeDb: () => Promise<TestDatabase>, ciRuns: number) {
  describe(`convergence on ${name}`, () => {
    let db: TestDatabase;
    let ts: TestServer;
    const tally = newTally();
    // Tick 0 an hour ago: the fastest skew (+3650 s) stays inside the 60 s clamp, so no
    // timestamp in these histories is clamped (clamp.test.ts covers that separately).
    const base = (Math.floor(Date.now() / 1000) - 3600) * 1_000_000;

    beforeAll(async () => {
      db = await makeDb();
      ts = await startTestServer(db);
    });
    afterAll(async () => {
      await ts?.close();
      await db?.drop();
      report(`convergence ${name}`, { ...tally });
    });

    const params = fcParams(ciRuns);
    it(
      'every client converges on the server state, which equals the reference LWW model',
      async () => {
        await fc.assert(
          fc.asyncProperty(historyArb, async (history) => {
            const user = `conv-${randomBytes(6).toString('hex')}`;
            await new Simulation(ts, user, history, base, tally).run();
          }),
          params,
        );
        expect(tally.histories).toBeGreaterThanOrEqual(params.numRuns);
      },
      timeoutFor(params.numRuns, 3000),
    );
  });
}
