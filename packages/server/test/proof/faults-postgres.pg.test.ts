import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthService, startAuthService } from '../helpers/auth-service.js';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { pullEverything, startLoad, verifyLoad } from './faults/batch-load.js';
import { type ChildServer, startChildServer } from './faults/child-server.js';
import { freshPgDatabase } from './faults/pg-database.js';
import { startTcpProxy, type TcpProxy } from './faults/tcp-proxy.js';
import { proofRuns, report } from './proof-runs.js';

/**
 * PostgreSQL goes away in the middle of a load of pushes (every connection reset, new ones
 * refused) and comes back. While it is away the server answers 503 DB_UNAVAILABLE with
 * Retry-After (never a 500, never a crash); /health says so; it recovers by itself; every
 * push it acknowledged is in the database and no batch is half written.
 * The server is a real `mana-sync serve` process: a crash would show as refused connections.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL outage during a load (TCP proxy)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let proxy: TcpProxy;
  let auth: AuthService;
  let server: ChildServer;
  const counts = {
    outages: 0,
    batchesSent: 0,
    batchesAcked: 0,
    answered503: 0,
    changesChecked: 0,
    lost: 0,
    halfWritten: 0,
  };

  beforeAll(async () => {
    db = await freshPgDatabase();
    auth = await startAuthService();
    const target = new URL(db.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    server = await startChildServer({ DATABASE_URL: viaProxy.toString(), JWKS_URL: auth.jwksUrl });
  });
  afterAll(async () => {
    await server?.kill();
    await proxy?.close();
    await auth?.close();
    await db?.drop();
    report('faults-postgres (proxy)', counts);
  });

  it('answers 503 while the database is away, recovers by itself, loses nothing', {
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
      prefix: 'p-',
    });
    const outages = Math.min(proofRuns(3), 20);
    for (let i = 0; i < outages; i++) {
      const ackedBefore = load.result.acked.size;
      while (load.result.acked.size < ackedBefore + 10) await sleep(20);
      proxy.cut();
      counts.outages++;
      await sleep(300);
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as { database: string }).database).toBe('down');
      await sleep(700 + Math.floor(Math.random() * 500));
      proxy.restore();
      // Recovers by itself: pushes are acknowledged again without any restart.
      const ackedAtRestore = load.result.acked.size;
      const deadline = Date.now() + 30_000;
      while (load.result.acked.size < ackedAtRestore + 10 && Date.now() < deadline) await sleep(20);
      expect(load.result.acked.size, server.stderr()).toBeGreaterThanOrEqual(ackedAtRestore + 10);
    }
    stop = true;
    await load.done;
    expect((await fetch(`${server.url}/health`)).status).toBe(200);

    const r = load.result;
    counts.batchesSent = r.sent;
    counts.batchesAcked = r.acked.size;
    counts.answered503 = r.statuses.get('503') ?? 0;
    expect(r.bad).toEqual([]);
    expect(r.networkErrorKinds, server.stderr()).toEqual({});
    expect(counts.answered503).toBeGreaterThan(0);
    const records = await pullEverything(server.url, token, ['load', 'counters']);
    const { problems, changesChecked } = verifyLoad(r, records, size);
    counts.changesChecked = changesChecked;
    counts.lost = problems.filter((p) => p.startsWith('acknowledged') || p.startsWith('counter')).length;
    counts.halfWritten = problems.filter((p) => p.includes('half written')).length;
    expect(problems).toEqual([]);
    expect(server.process.exitCode, server.stderr()).toBeNull();
  });
});
