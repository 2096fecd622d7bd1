import type { Metric, Registry } from 'prom-client';

/**
 * A histogram for the request path. Observations are counted in plain arrays under a label
 * key the caller builds (the label values joined by KEY_SEPARATOR), and prom-client's
 * registry formats them at scrape time like its own histograms: the same `_bucket` (with
 * `le`), `_sum` and `_count` series.
 *
 * Why not prom-client's Histogram here: each of its observe() calls allocates a closure and
 * validates, sorts and hashes the label object (about 1 µs). With two labeled observations
 * and a counter a request, that was about 6 % of the server's CPU on a small push
 * (docs/benchmarks.md). Everything else stays prom-client's: the registry, the exposition
 * format, and every metric not observed on each request.
 */
export const KEY_SEPARATOR = '\u0001';

export interface KeyedHistogram<L extends string> {
  /** `key`: this observation's label values, in `labelNames` order, joined by KEY_SEPARATOR. */
  observe(key: string, value: number): void;
  /** The observation count of every label set seen (a counter of the same events reads it). */
  counts(): Array<{ labels: Record<L, string>; count: number }>;
}

interface Series<L extends string> {
  labels: Record<L, string>;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

export function keyedHistogram<L extends string>(opts: {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
  registers: Registry[];
}): KeyedHistogram<L> {
  const bounds = [...opts.buckets].sort((a, b) => a - b);
  const series = new Map<string, Series<L>>();
  const seriesOf = (key: string): Series<L> => {
    let s = series.get(key);
    if (!s) {
      const values = key.split(KEY_SEPARATOR);
      const labels = Object.fromEntries(opts.labelNames.map((n, i) => [n, values[i] ?? ''])) as Record<
        L,
        string
      >;
      s = { labels, buckets: new Float64Array(bounds.length + 1), sum: 0, count: 0 };
      series.set(key, s);
    }
    return s;
  };
  // What prom-client's registry reads from a metric. getForPromString (what /metrics uses)
  // keeps a series' labels apart from `le`, as prom-client's Histogram does, so the text is
  // the same line for line; get() (JSON) merges them.
  const values = () => {
    const out: Array<{
      labels: Record<string, string | number>;
      sharedLabels: Record<L, string>;
      value: number;
      metricName: string;
    }> = [];
    for (const s of series.values()) {
      let cumulative = 0;
      bounds.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        out.push({
          labels: { le },
          sharedLabels: s.labels,
          value: cumulative,
          metricName: `${opts.name}_bucket`,
        });
      });
      out.push({
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: `${opts.name}_bucket`,
      });
      out.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${opts.name}_sum` });
      out.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${opts.name}_count` });
    }
    return out;
  };
  const head = { name: opts.name, help: opts.help, type: 'histogram', aggregator: 'sum' };
  const metric = {
    ...head,
    getForPromString: async () => ({ ...head, values: values() }),
    get: async () => ({
      ...head,
      values: values().map(({ labels, sharedLabels, ...v }) => ({
        ...v,
        labels: { ...sharedLabels, ...labels },
      })),
    }),
    reset() {
      series.clear();
    },
  };
  for (const r of opts.registers) r.registerMetric(metric as unknown as Metric);

  return {
    observe(key, value) {
      const s = seriesOf(key);
      let i = 0;
      while (i < bounds.length && value > bounds[i]!) i++;
      s.buckets[i]!++;
      s.sum += value;
      s.count++;
    },
    counts: () => [...series.values()].map((s) => ({ labels: s.labels, count: s.count })),
  };
}
