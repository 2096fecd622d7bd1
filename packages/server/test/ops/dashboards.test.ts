import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { memoryPglite } from '../helpers/databases.js';
import { type PromText, parsePromText } from '../helpers/prom-text.js';
import { familyOf, promqlMetricNames, promqlSelectors } from '../helpers/promql-names.js';
import { openSse, type SseClient } from '../helpers/sse-client.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';

/**
 * What an operator watches (ops/): the Grafana dashboard and the Prometheus alert rules.
 * promtool checks the rules and runs them on made-up series (each alert fires on what it
 * names, and not on normal traffic); a real server, after a push, a conflict, a pull, a
 * WebSocket, an SSE stream and a database outage, exposes every metric they name.
 */
const root = (p: string) => fileURLToPath(new URL(`../../../../${p}`, import.meta.url));
const ALERTS = root('ops/prometheus/alerts.yml');
const DASHBOARD = root('ops/grafana/mana-sync.json');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const rules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap(
  (g) => g.rules,
);

interface Target {
  refId: string;
  expr: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query: string | { query: string } }> };
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = panels.filter((p) => p.type !== 'row');

/** Every PromQL expression that reads /metrics: rule expressions, panel targets, variable queries. */
const expressions: Array<{ where: string; expr: string }> = [
  ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  ...queryPanels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  ),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({
      where: `variable $${v.name}`,
      expr: typeof v.query === 'string' ? v.query : v.query.query,
    })),
];

/** How a panel names the data source: the `datasource` variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DATASOURCE_UID = '${datasource}';
/** Made by Prometheus itself for every target, not by the server. */
const FROM_PROMETHEUS = new Set(['up']);
/** Labels Prometheus attaches at scrape time. */
const TARGET_LABELS = new Set(['job', 'instance']);

describe('the PromQL name reader used here', () => {
  it('finds the metrics, not the functions, labels, variables or numbers', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{job=~"$job", x="b_total"}[$__rate_interval]))) > 1e9',
      ),
    ).toEqual(['a_seconds_bucket']);
    expect(
      promqlMetricNames(
        'sum by (job) (rate(a_total[5m] offset 1h)) / ignoring (status) group_left b_total > 0.05',
      ),
    ).toEqual(['a_total', 'b_total']);
    expect(promqlMetricNames('max(process_open_fds / process_max_fds) and on (instance) up == 0')).toEqual([
      'process_open_fds',
      'process_max_fds',
      'up',
    ]);
    expect(promqlMetricNames('label_values(a_total{job=~"$job"}, instance)')).toEqual(['a_total']);
    expect(promqlSelectors('rate(a_total{job=~"$job", status=~"5.."}[5m]) / b{c!="}"}')).toEqual([
      { name: 'a_total', labels: ['job', 'status'] },
      { name: 'b', labels: ['c'] },
    ]);
  });
});

describe('ops/grafana/mana-sync.json', () => {
  it('is a dashboard whose panels query a data source chosen by a variable', () => {
    expect(dashboard.uid).toBe('mana-sync');
    const dsVar = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(dsVar).toMatchObject({ name: 'datasource', query: 'prometheus' });
    expect(queryPanels.length).toBeGreaterThanOrEqual(10);
    for (const p of queryPanels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      expect(p.datasource?.uid, p.title).toBe(DATASOURCE_UID);
      for (const t of p.targets!) {
        expect(t.expr.trim(), `${p.title} ${t.refId}`).not.toBe('');
        expect(t.datasource?.uid ?? DATASOURCE_UID, `${p.title} ${t.refId}`).toBe(DATASOURCE_UID);
        // The job and instance pickers apply to every selector.
        for (const s of promqlSelectors(t.expr)) {
          expect(s.labels, `${p.title}: ${s.name}`).toEqual(expect.arrayContaining(['job', 'instance']));
        }
        expect(promqlMetricNames(t.expr).length, `${p.title} ${t.refId}`).toBeGreaterThan(0);
      }
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it('has a panel for each thing an operator watches', () => {
    const reads = (name: string) =>
      queryPanels.some((p) => p.targets!.some((t) => promqlMetricNames(t.expr).includes(name)));
    for (const name of [
      'mana_sync_http_requests_total', // requests, errors, limits hit
      'mana_sync_http_request_duration_seconds_bucket', // latency
      'mana_sync_changes_pushed_total', // pushes
      'mana_sync_conflicts_total',
      'mana_sync_ws_connections', // sockets
      'mana_sync_sse_streams',
      'mana_sync_fanout_delay_seconds_bucket', // fan-out lag
      'mana_sync_ws_resyncs_total', // fan-out reconnects
      'mana_sync_db_errors_total',
      'mana_sync_db_transaction_duration_seconds_bucket',
      'process_resident_memory_bytes',
    ]) {
      expect(reads(name), name).toBe(true);
    }
  });
});

describe('ops/prometheus/alerts.yml', () => {
  it('has an alert for each thing the on-call is paged or warned about', () => {
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'ManaSyncDatabaseErrors',
      'ManaSyncDatabaseUnavailable',
      'ManaSyncDown',
      'ManaSyncEventLoopStalled',
      'ManaSyncFanoutReconnects',
      'ManaSyncFileDescriptorsNearLimit',
      'ManaSyncHigh5xxRate',
      'ManaSyncHighMemory',
      'ManaSyncHighP99Latency',
      'ManaSyncLimitsHit',
    ]);
    for (const r of rules) {
      expect(['critical', 'warning'], r.alert).toContain(r.labels.severity);
      expect(r.annotations.summary, r.alert).toBeTruthy();
      expect(r.annotations.description, r.alert).toBeTruthy();
    }
    // Each alert is explained for the on-call in docs/operations.md.
    const ops = readFileSync(root('docs/operations.md'), 'utf8');
    const missing = rules.map((r) => r.alert).filter((a) => !ops.includes(`\`${a}\``));
    expect(missing, 'alerts not explained in docs/operations.md').toEqual([]);
  });
});

const inCi = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
/** `PROMTOOL`: a promtool elsewhere than on PATH (e.g. from a Prometheus release archive). */
const PROMTOOL = process.env.PROMTOOL || 'promtool';
const promtool = spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' }).status === 0;
const HOW = 'install it (apt-get install prometheus, which provides promtool) or set PROMTOOL';
if (!promtool && !inCi)
  process.stderr.write(`ops/prometheus rule checks skipped: no promtool; to run them, ${HOW}.\n`);

describe.skipIf(!promtool && !inCi)('promtool', () => {
  it('is installed (CI)', () => {
    expect(promtool, `no promtool: ${HOW}`).toBe(true);
  });

  it('accepts the rules (promtool check rules)', () => {
    const r = spawnSync(PROMTOOL, ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('fires each alert on what it names and not on normal traffic (promtool test rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mana-sync-alerts-'));
    try {
      // The rules without annotations: promtool compares them word for word, and their text is
      // for people (checked above and by `promtool check rules`), not for this test.
      const bare = parse(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Partial<Rule>[] }> };
      for (const g of bare.groups) for (const r of g.rules) delete r.annotations;
      writeFileSync(join(dir, 'alerts.yml'), stringify(bare));
      writeFileSync(join(dir, 'alerts.test.yml'), stringify(ALERT_TESTS));
      const r = spawnSync(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Every alert has a case that fires it.
    const fired = new Set(
      ALERT_TESTS.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect([...fired].sort()).toEqual(rules.map((r) => r.alert).sort());
  });
});

describe('every metric the dashboard and the alerts name', () => {
  let t: TestServer;
  let metrics: PromText;
  const sockets: TestSocket[] = [];
  const streams: SseClient[] = [];

  beforeAll(async () => {
    t = await startTestServer(await memoryPglite());
    const change = (id: string, updatedAt: string) => ({
      table: 'todos',
      id,
      op: 'insert',
      fields: { title: { value: updatedAt, updatedAt } },
    });
    const socket = await openSocket(t.url);
    sockets.push(socket);
    await socket.auth(await t.token('alice'), 'listener');
    const stream = await openSse(t.url, 'todo', {
      token: await t.token('alice'),
      clientId: 'reader',
      query: { collections: 'todos' },
    });
    streams.push(stream);
    expect(stream.status).toBe(200);
    const push = await t.push('alice', 'todo', {
      clientId: 'c1',
      changes: [change('a', '2026-01-01T00:00:02Z')],
    });
    expect(push.status).toBe(200);
    expect(await socket.next()).toMatchObject({ type: 'sync-available' });
    expect((await stream.next()).type).toBe('changes');
    // A conflict: an older edit of `a` loses.
    const stale = await t.push('alice', 'todo', {
      clientId: 'c2',
      changes: [change('a', '2026-01-01T00:00:01Z')],
    });
    expect(((await stale.json()) as { conflicts: unknown[] }).conflicts).toHaveLength(1);
    expect((await t.pull('alice', 'todo', { collection: 'todos' })).status).toBe(200);
    // Last, the database goes away: a push answers 503 and is counted as a database error.
    await t.server.context.store.close();
    const down = await t.push('alice', 'todo', {
      clientId: 'c1',
      changes: [change('b', '2026-01-01T00:00:03Z')],
    });
    expect(down.status).toBe(503);
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    metrics = parsePromText(await res.text());
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const s of streams) s.close();
    await t?.close();
  });

  it.each(expressions)('is exposed by /metrics: $where', ({ expr }) => {
    for (const name of promqlMetricNames(expr)) {
      if (FROM_PROMETHEUS.has(name)) continue;
      const family = familyOf(name, metrics.types);
      expect(family, `${name} is not on /metrics`).toBeDefined();
      const samples = metrics.samples.filter((s) => s.name === name);
      expect(samples.length, `${name} has no sample after the requests made here`).toBeGreaterThan(0);
    }
    // A matcher on a label the metric does not have selects nothing, silently.
    for (const s of promqlSelectors(expr)) {
      if (FROM_PROMETHEUS.has(s.name)) continue;
      const labels = new Set(
        metrics.samples.filter((x) => x.name === s.name).flatMap((x) => Object.keys(x.labels)),
      );
      for (const l of s.labels.filter((l) => !TARGET_LABELS.has(l))) {
        expect(labels.has(l), `${s.name} has no label ${l}`).toBe(true);
      }
    }
  });
});

/** `promtool test rules` cases: series of one instance, one sample a minute. */
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: Array<{ exp_labels: Record<string, string> }>;
}
const target = 'job="mana-sync",instance="sync-1:3050"';
const at = (labels: Record<string, string>) => ({ job: 'mana-sync', instance: 'sync-1:3050', ...labels });
const requests = (route: string, status: string, perMinute: number) => ({
  series: `mana_sync_http_requests_total{${target},method="POST",route="${route}",status="${status}"}`,
  values: `0+${perMinute}x60`,
});
const ALERT_TESTS: {
  rule_files: string[];
  evaluation_interval: string;
  tests: Array<{
    interval: string;
    input_series: Array<{ series: string; values: string }>;
    alert_rule_test: AlertTest[];
  }>;
} = {
  rule_files: ['alerts.yml'],
  evaluation_interval: '1m',
  tests: [
    {
      interval: '1m',
      input_series: [{ series: `up{${target}}`, values: '1 1 1 0 0 0 0 0' }],
      alert_rule_test: [
        { eval_time: '4m', alertname: 'ManaSyncDown', exp_alerts: [] },
        {
          eval_time: '6m',
          alertname: 'ManaSyncDown',
          exp_alerts: [{ exp_labels: at({ severity: 'critical' }) }],
        },
      ],
    },
    {
      // 5 % of requests answer 500: pages. ManaSyncLimitsHit stays quiet (no 413/429).
      interval: '1m',
      input_series: [requests('/sync/:appId', '200', 95), requests('/sync/:appId', '500', 5)],
      alert_rule_test: [
        {
          eval_time: '10m',
          alertname: 'ManaSyncHigh5xxRate',
          exp_alerts: [{ exp_labels: { job: 'mana-sync', severity: 'critical' } }],
        },
        { eval_time: '10m', alertname: 'ManaSyncLimitsHit', exp_alerts: [] },
      ],
    },
    {
      // 1 % answering 503 is under the 2 % bound.
      interval: '1m',
      input_series: [requests('/sync/:appId', '200', 99), requests('/sync/:appId', '503', 1)],
      alert_rule_test: [{ eval_time: '10m', alertname: 'ManaSyncHigh5xxRate', exp_alerts: [] }],
    },
    {
      // A quiet hour: a request a minute, and a 500 and a 429 every 4 minutes. A large share,
      // but single errors now and then page or warn nobody.
      interval: '1m',
      input_series: [
        requests('/sync/:appId', '200', 1),
        requests('/sync/:appId', '500', 0.25),
        requests('/sync/:appId', '429', 0.25),
      ],
      alert_rule_test: [
        { eval_time: '30m', alertname: 'ManaSyncHigh5xxRate', exp_alerts: [] },
        { eval_time: '30m', alertname: 'ManaSyncLimitsHit', exp_alerts: [] },
      ],
    },
    {
      interval: '1m',
      input_series: [
        {
          series: `mana_sync_db_errors_total{${target},operation="push",kind="unavailable"}`,
          values: '0 0 0 3 6 9 12 15 18 21',
        },
        { series: `mana_sync_db_errors_total{${target},operation="pull",kind="other"}`, values: '0+1x20' },
      ],
      alert_rule_test: [
        { eval_time: '4m', alertname: 'ManaSyncDatabaseUnavailable', exp_alerts: [] },
        {
          eval_time: '8m',
          alertname: 'ManaSyncDatabaseUnavailable',
          exp_alerts: [{ exp_labels: at({ severity: 'critical' }) }],
        },
        {
          eval_time: '8m',
          alertname: 'ManaSyncDatabaseErrors',
          exp_alerts: [{ exp_labels: at({ severity: 'warning', operation: 'pull' }) }],
        },
      ],
    },
    {
      // Pushes: 10 of 100 a minute take 1 to 2.5 s (p99 over 1 s); pulls all under 100 ms.
      interval: '1m',
      input_series: [
        ...[
          ['/sync/:appId', '0.1', 80],
          ['/sync/:appId', '1', 90],
          ['/sync/:appId', '2.5', 100],
          ['/sync/:appId', '+Inf', 100],
          ['/sync/:appId/pull', '0.1', 100],
          ['/sync/:appId/pull', '1', 100],
          ['/sync/:appId/pull', '2.5', 100],
          ['/sync/:appId/pull', '+Inf', 100],
        ].map(([route, le, perMinute]) => ({
          series: `mana_sync_http_request_duration_seconds_bucket{${target},method="POST",route="${route}",status="200",le="${le}"}`,
          values: `0+${perMinute}x60`,
        })),
      ],
      alert_rule_test: [
        {
          eval_time: '20m',
          alertname: 'ManaSyncHighP99Latency',
          exp_alerts: [{ exp_labels: { job: 'mana-sync', route: '/sync/:appId', severity: 'warning' } }],
        },
      ],
    },
    {
      interval: '1m',
      input_series: [
        {
          series: `nodejs_eventloop_lag_p99_seconds{${target}}`,
          values: '0.01 0.01 0.8 0.8 0.8 0.8 0.8 0.8 0.8 0.8',
        },
      ],
      alert_rule_test: [
        { eval_time: '5m', alertname: 'ManaSyncEventLoopStalled', exp_alerts: [] },
        {
          eval_time: '8m',
          alertname: 'ManaSyncEventLoopStalled',
          exp_alerts: [{ exp_labels: at({ severity: 'warning' }) }],
        },
      ],
    },
    {
      // One lost LISTEN connection is a blip; three within 15 minutes warn.
      interval: '1m',
      input_series: [
        { series: `mana_sync_ws_resyncs_total{${target}}`, values: '0 0 1 1 1 1 1 1 1 1 1 1 2 3 3 3' },
      ],
      alert_rule_test: [
        { eval_time: '10m', alertname: 'ManaSyncFanoutReconnects', exp_alerts: [] },
        {
          eval_time: '14m',
          alertname: 'ManaSyncFanoutReconnects',
          exp_alerts: [{ exp_labels: at({ severity: 'warning' }) }],
        },
      ],
    },
    {
      // 10 % of pulls are rate-limited; 1 % of pushes too large: only the pulls warn.
      interval: '1m',
      input_series: [
        requests('/sync/:appId/pull', '200', 90),
        requests('/sync/:appId/pull', '429', 10),
        requests('/sync/:appId', '200', 99),
        requests('/sync/:appId', '413', 1),
      ],
      alert_rule_test: [
        {
          eval_time: '15m',
          alertname: 'ManaSyncLimitsHit',
          exp_alerts: [
            {
              exp_labels: {
                job: 'mana-sync',
                route: '/sync/:appId/pull',
                status: '429',
                severity: 'warning',
              },
            },
          ],
        },
        { eval_time: '15m', alertname: 'ManaSyncHigh5xxRate', exp_alerts: [] },
      ],
    },
    {
      interval: '1m',
      input_series: [
        { series: `process_open_fds{${target}}`, values: '100 500 900 900 900 900 900 900 900 900' },
        { series: `process_max_fds{${target}}`, values: '1000x10' },
        { series: `process_resident_memory_bytes{${target}}`, values: '1e8 3e8 1.2e9x20' },
      ],
      alert_rule_test: [
        {
          eval_time: '8m',
          alertname: 'ManaSyncFileDescriptorsNearLimit',
          exp_alerts: [{ exp_labels: at({ severity: 'critical' }) }],
        },
        { eval_time: '8m', alertname: 'ManaSyncHighMemory', exp_alerts: [] },
        {
          eval_time: '14m',
          alertname: 'ManaSyncHighMemory',
          exp_alerts: [{ exp_labels: at({ severity: 'warning' }) }],
        },
      ],
    },
  ],
};
