import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';
import { pullEverything, startLoad, verifyLoad } from './faults/batch-load.js';
import { type ChildServer, startChildServer } from './faults/child-server.js';
import { type OwnPostgres, ownPostgresAvailable, startOwnPostgres } from './faults/own-postgres.js';
import { report } from './proof-runs.js';

/**
 * A real PostgreSQL crash and restart (our own throwaway cluster, `pg_ctl stop -m immediate`
 * then start) during a load of pushes against a real `mana-sync serve`: 503 while it is down,
 * recovery without touching the server, every acknowledged push kept, no batch half written.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!ownPostgresAvailable)('PostgreSQL crash and restart (own cluster)', () => {
  let own: OwnPostgres;
  let auth: AuthService;
  let server: ChildServer;
  const counts = {
    restarts: 0,
    batchesSent: 0,
    batchesAcked: 0,
    answered503: 0,
    changesChecked: 0,
    lost: 0,
    halfWritten: 0,
  };

  beforeAll(async () => {
    own = await startOwnPostgres();
    auth = await startAuthService();
    server = await startChildServer({ DATABASE_URL: own.url, JWKS_URL: auth.jwksUrl });
  }, 120_000);
  afterAll(async () => {
    await server?.kill();
    own?.destroy();
    await auth?.close();
    report('faults-postgres (real restart)', counts);
  });

  it('answers 503 while PostgreSQL is down, recovers by itself, loses nothing', {
    timeout: 180_000,
  }, async () => {
    const token = await auth.mint('loader');
    const size = 5;
    let stop = false;
    const load = startLoad({
      url: () => server.url,
      token,
      workers: 4,
      size,
      stop: () => stop,
      prefix: 'r-',
    });
    while (load.result.acked.size < 10) await sleep(20);
    own.crash();
    counts.restarts++;
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(503);
    await sleep(1000);
    own.start();
    const ackedAtRestart = load.result.acked.size;
    const deadline = Date.now() + 60_000;
    while (load.result.acked.size < ackedAtRestart + 10 && Date.now() < deadline) await sleep(20);
    stop = true;
    await load.done;
    const r = load.result;
    expect(r.acked.size, server.stderr()).toBeGreaterThanOrEqual(ackedAtRestart + 10);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    counts.batchesSent = r.sent;
    counts.batchesAcked = r.acked.size;
    counts.answered503 = r.statuses.get('503') ?? 0;
    expect(r.bad).toEqual([]);
    expect(r.networkErrorKinds, server.stderr()).toEqual({});
    const { problems, changesChecked } = verifyLoad(
      r,
      await pullEverything(server.url, token, ['load', 'counters']),
      size,
    );
    counts.changesChecked = changesChecked;
    counts.lost = problems.filter((p) => p.startsWith('acknowledged') || p.startsWith('counter')).length;
    counts.halfWritten = problems.filter((p) => p.includes('half written')).length;
    expect(problems).toEqual([]);
    expect(server.process.exitCode).toBeNull();
  });
});
