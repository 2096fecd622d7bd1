import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The functions that spent the instructions of a dump kept by instructions.ts
 * (MANA_INSTR_KEEP=dir), own cost only, with V8's compiled JavaScript named from the
 * perf.map it kept: callgrind knows those only by address.
 *
 *   npx tsx --conditions=source bench/tools/instructions-report.ts dir [top=40] [per=1] [--inclusive]
 * `per`: what the counts are divided by (the changes or requests measured). --inclusive:
 * a function's own cost and that of everything it called (a recursive call counts twice).
 */
const args = process.argv.slice(2);
const inclusive = args.includes('--inclusive');
const [dir, topArg = '40', perArg = '1'] = args.filter((a) => a !== '--inclusive');
if (!dir) throw new Error('usage: instructions-report.ts dir [top] [per]');
const top = Number(topArg);
const per = Number(perArg);

const dump = readdirSync(dir).find((f) => f.endsWith('.1-01'));
if (!dump) throw new Error(`no main-thread dump (*.1-01) in ${dir}`);

/** Address ranges of compiled JavaScript; a later entry wins (V8 reuses code space). */
const ranges: Array<{ start: bigint; end: bigint; name: string }> = [];
try {
  for (const line of readFileSync(join(dir, 'perf.map'), 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m)
      ranges.push({
        start: BigInt(`0x${m[1]}`),
        end: BigInt(`0x${m[1]}`) + BigInt(`0x${m[2]}`),
        name: m[3]!,
      });
  }
} catch {} // no map: addresses stay addresses

function jsName(name: string): string {
  if (!/^0x[0-9a-f]+$/.test(name)) return name;
  const at = BigInt(name);
  for (let i = ranges.length - 1; i >= 0; i--) {
    const r = ranges[i]!;
    if (at >= r.start && at < r.end) return r.name;
  }
  return name;
}

// Callgrind's format: `fn=(id) name` opens a function, a cost line is positions then the
// event count (Ir, the last number), and the cost line after `calls=` is the callee's
// inclusive cost, not the caller's own.
const names = new Map<string, string>();
const own = new Map<string, number>();
let fn = '';
let callCost = false;
for (const line of readFileSync(join(dir, dump), 'utf8').split('\n')) {
  if (line.startsWith('fn=')) {
    const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line)!;
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
    fn = names.get(m[1]!) ?? m[1]!;
  } else if (line.startsWith('cfn=')) {
    const m = /^cfn=\((\d+)\)(?: (.*))?$/.exec(line)!;
    if (m[2] !== undefined) names.set(m[1]!, m[2]);
  } else if (line.startsWith('calls=')) {
    callCost = true;
  } else if (/^[+\-*0-9]/.test(line)) {
    if (!callCost || inclusive) {
      const cost = Number(line.slice(line.lastIndexOf(' ') + 1));
      own.set(fn, (own.get(fn) ?? 0) + cost);
    }
    callCost = false;
  }
}

const byName = new Map<string, number>();
let total = 0;
for (const [name, cost] of own) {
  const js = jsName(name.replace(/ \[.*\]$/, ''));
  byName.set(js, (byName.get(js) ?? 0) + cost);
}
// The total is the dump's own: callgrind writes it as `totals:`.
const dumpText = readFileSync(join(dir, dump), 'utf8');
total = Number(/^totals: (\d+)/m.exec(dumpText)?.[1] ?? 0);
const rows = [...byName].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(`${dump}: ${Math.round(total / per).toLocaleString('en')} instructions per unit (÷ ${per})`);
for (const [name, cost] of rows) {
  const share = ((cost / total) * 100).toFixed(1).padStart(5);
  console.log(
    `${Math.round(cost / per)
      .toLocaleString('en')
      .padStart(9)} ${share} %  ${name.slice(0, 150)}`,
  );
}
