import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { KEY_SEPARATOR, keyedHistogram } from '../../src/keyed-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const key = (...values: string[]) => values.join(KEY_SEPARATOR);

describe('keyed histogram', () => {
  it("exposes the same text as prom-client's Histogram for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const opts = {
      name: 'h_seconds',
      help: 'latency',
      labelNames: ['route', 'status'] as const,
      buckets: BUCKETS,
    };
    const h = keyedHistogram({ ...opts, registers: [ours] });
    const p = new Histogram({ ...opts, registers: [theirs] });
    // Values on a bound, between bounds, above every bound, and zero, in two label sets.
    const seen: Array<[string, string, number]> = [
      ['/a', '200', 0.001],
      ['/a', '200', 0.0005],
      ['/b', '404', 0.05],
      ['/a', '200', 7],
      ['/b', '404', 1],
      ['/a', '200', 0],
    ];
    for (const [route, status, v] of seen) {
      h.observe(key(route, status), v);
      p.observe({ route, status }, v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // JSON: the same values and labels (prom-client adds an empty exemplar to each bucket).
    const noExemplars = (x: unknown) =>
      JSON.parse(JSON.stringify(x, (k, v) => (k === 'exemplar' ? undefined : v)));
    expect(await ours.getMetricsAsJSON()).toEqual(noExemplars(await theirs.getMetricsAsJSON()));
    expect(h.counts()).toEqual([
      { labels: { route: '/a', status: '200' }, count: 4 },
      { labels: { route: '/b', status: '404' }, count: 2 },
    ]);
  });

  it('starts again from nothing when the registry is reset', async () => {
    const r = new Registry();
    const h = keyedHistogram({
      name: 'x_seconds',
      help: 'x',
      labelNames: ['op'],
      buckets: BUCKETS,
      registers: [r],
    });
    h.observe('push', 0.5);
    r.resetMetrics();
    expect(h.counts()).toEqual([]);
    expect(await r.metrics()).not.toContain('op="push"');
  });
});
