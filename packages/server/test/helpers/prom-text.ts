/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4): every line must
 * be a comment, HELP, TYPE, blank, or a sample `name{label="value",...} value [timestamp]`,
 * and every sample must belong to a family declared by TYPE. Throws on anything else, so a
 * test that reads /metrics through it also checks that the output parses.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  samples: Sample[];
  types: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePromText(text: string): PromText {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    const fail: (why: string) => never = (why) => {
      throw new Error(`line ${i + 1}: ${why}: ${line}`);
    };
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      if (!NAME.test(m[2]!)) fail('bad metric name');
      if (m[1] === 'TYPE') {
        if (!(m[3]! in SUFFIXES)) fail('unknown type');
        if (types.has(m[2]!)) fail('TYPE declared twice');
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) fail('not a sample');
    const labels: Record<string, string> = {};
    if (m[3]) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < m[3].length) {
        const start = LABEL.lastIndex;
        const l = LABEL.exec(m[3]);
        if (!l || l.index !== start) fail('bad labels');
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    // Go's strconv.ParseFloat, which Prometheus uses: NaN and Inf in any letter case.
    const raw = m[4]!;
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(raw);
    const value = special
      ? special[2]!.toLowerCase() === 'nan'
        ? Number.NaN
        : special[1] === '-'
          ? -Infinity
          : Infinity
      : Number(raw);
    if (Number.isNaN(value) && !special) fail('bad value');
    const family = [...types.entries()].find(([name, type]) =>
      SUFFIXES[type]!.some((suffix) => `${name}${suffix}` === m[1]),
    );
    if (!family) fail('sample of an undeclared family');
    samples.push({ name: m[1]!, labels, value });
  }
  return { samples, types };
}

/** Sum of the samples named `name` whose labels include `labels`. */
export function sampleValue(p: PromText, name: string, labels: Record<string, string> = {}): number {
  return p.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
