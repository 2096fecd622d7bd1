import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, round } from './stats.js';

/**
 * One measured figure and its same-run baseline. `ratio` is always "how fast compared with
 * the baseline" (1.0 = as fast, higher is better): figure/baseline for rates,
 * baseline/figure for times, latencies and memory.
 */
export interface Figure {
  id: string;
  figure: string;
  unit: string;
  value: number;
  baselineLabel: string;
  baseline: number;
  ratio: number;
  /** What must hold, in words; absent: reported only. */
  target?: string;
  pass?: boolean;
  command: string;
  rounds: Round[];
  notes?: Record<string, unknown>;
}

export interface Round {
  value: number;
  baseline: number;
  ratio: number;
  notes?: Record<string, unknown>;
}

export type Better = 'higher' | 'lower';

/** Median of each column across rounds (the ratio is the median of per-round ratios). */
export function summarize(
  base: Omit<Figure, 'value' | 'baseline' | 'ratio' | 'rounds' | 'pass'>,
  rounds: Round[],
  check?: (f: Figure) => boolean,
): Figure {
  const fig: Figure = {
    ...base,
    value: round(median(rounds.map((r) => r.value))),
    baseline: round(median(rounds.map((r) => r.baseline))),
    ratio: round(median(rounds.map((r) => r.ratio))),
    rounds,
  };
  if (check) fig.pass = check(fig);
  // Progress on stderr: a full run takes minutes and the table comes at the end.
  process.stderr.write(`  ${fig.figure}: ${fig.value} ${fig.unit}, ratio ${fig.ratio}\n`);
  return fig;
}

export function ratioOf(value: number, baseline: number, better: Better): number {
  return better === 'higher' ? value / baseline : baseline / value;
}

export function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.figure,
    `${fmt(f.value)} ${f.unit}`,
    `${fmt(f.baseline)} ${f.unit} (${f.baselineLabel})`,
    fmt(f.ratio),
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'pass' : 'FAIL',
  ]);
  const head = ['figure', 'value', 'baseline', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : String(round(n));
}

/** Writes bench/results/<timestamp>.json (gitignored) and returns its path. */
export function writeResults(figures: Figure[], meta: Record<string, unknown>): string {
  const dir = fileURLToPath(new URL('../results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version };
  writeFileSync(file, `${JSON.stringify({ ...meta, machine, figures }, null, 2)}\n`);
  return file;
}
