import { readFileSync } from 'node:fs';
import { type Figure, fmt } from '../lib/report.js';

/**
 * A results file as the Markdown table of docs/benchmarks.md (figure, value, baseline, median
 * ratio, every round's ratio, target, result, command), so the docs quote a run as it was.
 *
 *   npx tsx --conditions=source bench/tools/markdown.ts bench/results/<timestamp>.json
 */
const file = process.argv[2];
if (!file) throw new Error('usage: markdown.ts <bench/results/…json>');
const { figures } = JSON.parse(readFileSync(file, 'utf8')) as { figures: Figure[] };
const cell = (s: string) => s.replaceAll('|', '\\|');
const lines = [
  '| figure | value | baseline | ratio (median) | ratio per round (or range, n rounds) | target | result | reproduce |',
  '| --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const f of figures) {
  const result = f.pass === undefined ? '' : f.pass ? 'pass' : '**fail**';
  // Alternating slices make a dozen rounds: their range, not each one.
  const ratios = f.rounds.map((r) => r.ratio);
  const rounds =
    ratios.length > 5
      ? `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}, ${ratios.length} rounds`
      : ratios.map((r) => r.toFixed(2)).join(', ');
  const cells = [
    f.figure,
    `${fmt(f.value)} ${f.unit}`,
    `${fmt(f.baseline)} ${f.unit} (${f.baselineLabel})`,
    fmt(f.ratio),
    rounds,
    f.target ?? '',
    result,
    `\`${f.command}\``,
  ];
  lines.push(`| ${cells.map(cell).join(' | ')} |`);
}
process.stdout.on('error', () => {}); // a reader that stops early (head) is not an error here
process.stdout.write(`${lines.join('\n')}\n`);
