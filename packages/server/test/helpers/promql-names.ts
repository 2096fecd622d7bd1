/**
 * The metric names a PromQL expression (or a Grafana `label_values(...)` query) reads, so a
 * test can check each one against what /metrics exposes. Not a PromQL parser: it removes what
 * cannot be a metric name (strings, label matchers, ranges, grouping label lists, Grafana
 * variables, numbers, durations after `offset`), then every identifier left that is not a
 * function call or a keyword is a metric name. Unknown names are kept, not guessed away: a
 * misspelt metric must show up as a name /metrics lacks.
 */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
  'start',
  'end',
]);

export function promqlMetricNames(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ') // Grafana variables: $job, ${datasource}, $__rate_interval
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\boffset\s+-?\w+/g, ' ');
  // label_values(metric, label): its second argument is a label, not a metric.
  s = s.replace(/\blabel_values\s*\(([^,)]*),[^)]*\)/g, ' $1 ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call || KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}

/** Each `metric{...}` selector of an expression, with the label names its matchers use. */
export function promqlSelectors(expr: string): Array<{ name: string; labels: string[] }> {
  const s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""').replace(/\$\{[^}]*\}/g, ' ');
  return [...s.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map(([, name, body]) => ({
    name: name!,
    labels: [...body!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!),
  }));
}

/** The family a sample name belongs to, given the families /metrics declares (name → type). */
export function familyOf(name: string, types: Map<string, string>): string | undefined {
  const type = types.get(name);
  if (type && type !== 'histogram') return name; // a histogram's own name has no samples
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const t = types.get(base);
    if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
  }
  return undefined;
}
