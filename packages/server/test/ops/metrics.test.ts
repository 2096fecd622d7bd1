import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { memoryPglite } from '../helpers/databases.js';
import { type PromText, parsePromText, sampleValue } from '../helpers/prom-text.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket } from '../helpers/ws-client.js';

const change = (id: string, title: string, updatedAt: string) => ({
  table: 'todos',
  id,
  op: 'insert',
  fields: { title: { value: title, updatedAt } },
});

async function scrape(t: TestServer): Promise<PromText> {
  const res = await fetch(`${t.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePromText(await res.text());
}

function expectFamilies(p: PromText): void {
  expect(p.types.get('process_cpu_user_seconds_total')).toBe('counter');
  expect(p.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
  for (const [name, type] of [
    ['mana_sync_http_requests_total', 'counter'],
    ['mana_sync_http_request_duration_seconds', 'histogram'],
    ['mana_sync_changes_pushed_total', 'counter'],
    ['mana_sync_fields_accepted_total', 'counter'],
    ['mana_sync_conflicts_total', 'counter'],
    ['mana_sync_records_pulled_total', 'counter'],
    ['mana_sync_push_batch_size', 'histogram'],
    ['mana_sync_ws_connections', 'gauge'],
    ['mana_sync_ws_users', 'gauge'],
    ['mana_sync_ws_notifications_sent_total', 'counter'],
    ['mana_sync_ws_notifications_coalesced_total', 'counter'],
    ['mana_sync_ws_resyncs_total', 'counter'],
    ['mana_sync_db_errors_total', 'counter'],
    ['mana_sync_db_transaction_duration_seconds', 'histogram'],
  ]) {
    expect(p.types.get(name!), name).toBe(type);
  }
}

describe('the Prometheus text reader used here', () => {
  it('rejects what Prometheus would not parse', () => {
    const ok = '# TYPE x_total counter\nx_total{a="1"} 2\n';
    expect(sampleValue(parsePromText(ok), 'x_total', { a: '1' })).toBe(2);
    for (const bad of [
      'x_total 1', // no TYPE
      '# TYPE x_total counter\nx_total{a=1} 2', // unquoted label value
      '# TYPE x_total counter\nx_total{a="1"} two', // not a number
      '# TYPE x_total counter\nx-total 1', // bad name
      '# TYPE x_total counter\n# TYPE x_total counter', // declared twice
    ]) {
      expect(() => parsePromText(bad), bad).toThrow();
    }
  });
});

describe('realtime numbers in the registry', () => {
  it('are read from the registered source at every scrape', async () => {
    const m = createMetrics({ maxAppLabels: 10 });
    const stats = { connections: 0, users: 0, notificationsSent: 0, notificationsCoalesced: 0, resyncs: 0 };
    const read = async () => parsePromText(await m.registry.metrics());
    expect(sampleValue(await read(), 'mana_sync_ws_connections')).toBe(0); // nothing registered yet
    m.setRealtimeSource(() => stats);
    Object.assign(stats, { connections: 3, users: 2, notificationsSent: 7, resyncs: 1 });
    let p = await read();
    expect(sampleValue(p, 'mana_sync_ws_connections')).toBe(3);
    expect(sampleValue(p, 'mana_sync_ws_users')).toBe(2);
    expect(sampleValue(p, 'mana_sync_ws_notifications_sent_total')).toBe(7);
    expect(sampleValue(p, 'mana_sync_ws_resyncs_total')).toBe(1);
    Object.assign(stats, { connections: 1, notificationsSent: 9 });
    p = await read();
    expect(sampleValue(p, 'mana_sync_ws_connections')).toBe(1);
    expect(sampleValue(p, 'mana_sync_ws_notifications_sent_total')).toBe(9);
  });
});

describe('/metrics', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const start = async (config = {}) => {
    const t = await startTestServer(await memoryPglite(), config);
    servers.push(t);
    return t;
  };

  it('parses as Prometheus text, and its counters move with a push, a pull and a conflict', async () => {
    const t = await start();
    const before = await scrape(t);
    expectFamilies(before);
    const app = { app: 'todo' };
    expect(sampleValue(before, 'mana_sync_changes_pushed_total', app)).toBe(0);

    const push = await t.push('alice', 'todo', {
      clientId: 'c1',
      changes: [change('a', 'one', '2026-01-01T00:00:02Z'), change('b', 'two', '2026-01-01T00:00:02Z')],
    });
    expect(push.status).toBe(200);
    // An older edit of `a`: it loses, and is reported as a conflict.
    const stale = await t.push('alice', 'todo', {
      clientId: 'c2',
      changes: [change('a', 'stale', '2026-01-01T00:00:01Z')],
    });
    expect(((await stale.json()) as { conflicts: unknown[] }).conflicts).toHaveLength(1);
    const pull = await t.pull('alice', 'todo', { collection: 'todos' });
    expect(pull.status).toBe(200);

    const after = await scrape(t);
    expect(sampleValue(after, 'mana_sync_changes_pushed_total', app)).toBe(2);
    expect(sampleValue(after, 'mana_sync_fields_accepted_total', app)).toBe(2);
    expect(sampleValue(after, 'mana_sync_conflicts_total', app)).toBe(1);
    expect(sampleValue(after, 'mana_sync_records_pulled_total', app)).toBe(2);
    expect(sampleValue(after, 'mana_sync_push_batch_size_count')).toBe(2);
    expect(sampleValue(after, 'mana_sync_push_batch_size_sum')).toBe(3);
    const pushes = { method: 'POST', route: '/sync/:appId', status: '200' };
    expect(sampleValue(after, 'mana_sync_http_requests_total', pushes)).toBe(2);
    expect(sampleValue(after, 'mana_sync_http_request_duration_seconds_count', pushes)).toBe(2);
    expect(
      sampleValue(after, 'mana_sync_http_requests_total', { route: '/sync/:appId/pull', status: '200' }),
    ).toBe(1);
    expect(sampleValue(after, 'mana_sync_db_transaction_duration_seconds_count', { operation: 'push' })).toBe(
      2,
    );
    expect(sampleValue(after, 'mana_sync_db_transaction_duration_seconds_count', { operation: 'pull' })).toBe(
      1,
    );

    // A refused request counts under its route template and status.
    expect((await t.request(null, '/sync/todo/pull?collection=todos')).status).toBe(401);
    const refused = await scrape(t);
    expect(
      sampleValue(refused, 'mana_sync_http_requests_total', { route: '/sync/:appId/pull', status: '401' }),
    ).toBe(1);
  });

  it('WebSocket numbers move with a socket: connection, notification, close', async () => {
    const t = await start();
    const socket = await openSocket(t.url);
    await socket.auth(await t.token('alice'), 'listener');
    let p = await scrape(t);
    expect(sampleValue(p, 'mana_sync_ws_connections')).toBe(1);
    expect(sampleValue(p, 'mana_sync_ws_users')).toBe(1);
    expect(sampleValue(p, 'mana_sync_ws_notifications_sent_total')).toBe(0);

    const res = await t.push('alice', 'todo', {
      clientId: 'other-device',
      changes: [change('a', 'x', '2026-01-01T00:00:00Z')],
    });
    expect(res.status).toBe(200);
    expect(await socket.next()).toMatchObject({ type: 'sync-available', appId: 'todo' });
    p = await scrape(t);
    expect(sampleValue(p, 'mana_sync_ws_notifications_sent_total')).toBe(1);

    socket.close();
    await socket.closed;
    for (let i = 0; i < 100 && sampleValue(p, 'mana_sync_ws_connections') !== 0; i++) {
      await new Promise((r) => setTimeout(r, 20)); // the server sees the close a moment later
      p = await scrape(t);
    }
    expect(sampleValue(p, 'mana_sync_ws_connections')).toBe(0);
    expect(sampleValue(p, 'mana_sync_ws_users')).toBe(0);
    expect(sampleValue(p, 'mana_sync_ws_notifications_sent_total')).toBe(1);
  });

  it('keeps label values bounded: 1,000 record ids, raw paths and many apps add no series', async () => {
    const t = await start({ metricsMaxApps: 3 });
    const ids = Array.from({ length: 1000 }, (_, i) => `rec-${i}-${Math.random().toString(36).slice(2)}`);
    for (let i = 0; i < ids.length; i += 250) {
      const res = await t.push('alice', 'todo', {
        clientId: 'c1',
        changes: ids.slice(i, i + 250).map((id) => change(id, 'x', '2026-01-01T00:00:00Z')),
      });
      expect(res.status).toBe(200);
    }
    for (const id of ids.slice(0, 50)) {
      expect((await t.request('alice', `/sync/todo/${id}`)).status).toBe(404);
      expect((await t.request(`user-${id}`, '/sync/todo/pull?collection=todos')).status).toBe(200);
    }
    for (const appId of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) {
      await t.push('alice', appId, { clientId: 'c1', changes: [change('r', 'x', '2026-01-01T00:00:00Z')] });
    }

    const text = await (await fetch(`${t.url}/metrics`)).text();
    for (const id of ids) expect(text).not.toContain(id);
    const p = parsePromText(text);
    const mana = p.samples.filter((s) => s.name.startsWith('mana_sync_'));
    const routes = new Set(mana.map((s) => s.labels.route).filter(Boolean));
    expect([...routes].sort()).toEqual(['/sync/:appId', '/sync/:appId/pull', 'unmatched']);
    const apps = new Set(mana.map((s) => s.labels.app).filter(Boolean));
    expect([...apps].sort()).toEqual(['_other', 'a1', 'a2', 'todo']);
    // Every family stays small however many records, users and paths were seen.
    const series = new Map<string, number>();
    for (const s of mana) series.set(s.name, (series.get(s.name) ?? 0) + 1);
    for (const [name, n] of series) expect(n, name).toBeLessThanOrEqual(60);
  });

  it('counts database errors by operation, and each server keeps its own registry', async () => {
    const [t, other] = [await start(), await start()];
    await t.server.context.store.close(); // the database goes away under a running server
    const res = await t.push('alice', 'todo', {
      clientId: 'c1',
      changes: [change('a', 'x', '2026-01-01T00:00:00Z')],
    });
    expect(res.status).toBe(503);
    const p = await scrape(t);
    expect(sampleValue(p, 'mana_sync_db_errors_total', { operation: 'push', kind: 'unavailable' })).toBe(1);
    expect(sampleValue(p, 'mana_sync_http_requests_total', { status: '503' })).toBe(1);
    const q = await scrape(other);
    expect(sampleValue(q, 'mana_sync_db_errors_total')).toBe(0);
    expect(sampleValue(q, 'mana_sync_http_requests_total', { route: '/sync/:appId' })).toBe(0);
  });
});

describe('app labels cannot be squatted (issue 20, finding 9)', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const start = async (config = {}) => {
    const t = await startTestServer(await memoryPglite(), config);
    servers.push(t);
    return t;
  };
  const one = (t: TestServer, user: string, appId: string) =>
    t.push(user, appId, { clientId: 'c1', changes: [change('r', 'x', '2026-01-01T00:00:00Z')] });
  const appsIn = (p: PromText) =>
    new Set(
      p.samples
        .filter((s) => s.name.startsWith('mana_sync_'))
        .map((s) => s.labels.app)
        .filter(Boolean),
    );

  it('one user pushing to many apps takes a few labels; a real app pushed later still gets its own', async () => {
    const t = await start({ metricsMaxApps: 5, metricsNewAppsPerUser: 2 });
    for (let i = 1; i <= 12; i++) expect((await one(t, 'mallory', `squat-${i}`)).status).toBe(200);
    // Requests that leave no data give no label: an empty push, a pull of nothing.
    expect((await t.push('mallory', 'empty', { clientId: 'c1', changes: [] })).status).toBe(200);
    expect((await t.pull('mallory', 'nothing', { collection: 'todos' })).status).toBe(200);
    expect((await one(t, 'alice', 'todo')).status).toBe(200);
    expect((await t.pull('bob', 'todo', { collection: 'todos' })).status).toBe(200); // bob has no records
    expect((await t.pull('alice', 'todo', { collection: 'todos' })).status).toBe(200);
    const p = await scrape(t);
    expect([...appsIn(p)].sort()).toEqual(['_other', 'squat-1', 'squat-2', 'todo']);
    expect(sampleValue(p, 'mana_sync_changes_pushed_total', { app: 'todo' })).toBe(1);
    expect(sampleValue(p, 'mana_sync_records_pulled_total', { app: 'todo' })).toBe(1);
    expect(sampleValue(p, 'mana_sync_changes_pushed_total', { app: '_other' })).toBe(10);
    expect(sampleValue(p, 'mana_sync_app_labels')).toBe(3);
  });

  it('with MANA_APPS set, only the declared apps are labels', async () => {
    const t = await start({ manaApps: ['todo', 'calendar'] });
    for (const appId of ['squat-1', 'todo', 'squat-2', 'calendar']) {
      expect((await one(t, 'mallory', appId)).status).toBe(200);
    }
    const p = await scrape(t);
    expect([...appsIn(p)].sort()).toEqual(['_other', 'calendar', 'todo']);
    expect(sampleValue(p, 'mana_sync_changes_pushed_total', { app: '_other' })).toBe(2);
  });

  it('GET /metrics requires the bearer token when METRICS_TOKEN is set', async () => {
    const t = await start({ metricsToken: 'scrape-secret-123' });
    for (const authorization of [
      undefined,
      'Bearer wrong',
      'scrape-secret-123',
      'Bearer scrape-secret-1234',
    ]) {
      const res = await fetch(`${t.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, authorization).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
    const ok = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer scrape-secret-123' } });
    expect(ok.status).toBe(200);
    expectFamilies(parsePromText(await ok.text()));
  });
});
