import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LOOP_TRANSITIONS } from '../src/loop-machine.js';
import { TRANSITIONS } from '../src/state-machine.js';

/**
 * SPEC.md repeats both machines' tables; a cell changed on one side only fails here. In the
 * page, `·` is "the state stays" and `—` "cannot happen, ignored" (null in the code).
 */
const SPEC = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8');

type Matrix = Record<string, Record<string, string | null>>;

/** The `state \ event` table under a `## heading` of SPEC.md. */
function matrixUnder(heading: string, text = SPEC): Matrix {
  const lines = text.split('\n');
  const at = lines.indexOf(`## ${heading}`);
  if (at < 0) throw new Error(`SPEC.md has no "## ${heading}"`);
  const start = lines.findIndex((l, i) => i > at && l.startsWith('| state \\ event'));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
  const rows = lines.slice(start, end).map((l) =>
    l
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim().replace(/`/g, '')),
  );
  const events = rows[0]!.slice(1);
  const matrix: Matrix = {};
  for (const [state, ...cells] of rows.slice(2)) {
    matrix[state!] = Object.fromEntries(
      events.map((e, i) => [e, cells[i] === '—' ? null : cells[i] === '·' ? state! : cells[i]!]),
    );
  }
  return matrix;
}

describe('SPEC.md and the code hold the same machines', () => {
  it('status: every state, every event, every cell', () => {
    expect(matrixUnder('Status transitions')).toEqual(TRANSITIONS);
  });

  it('sync loop: every state, every event, every cell', () => {
    expect(matrixUnder('The sync loop')).toEqual(LOOP_TRANSITIONS);
  });

  it('a cell changed in the page alone fails the comparison', () => {
    const changed = SPEC.replace(/^(\| `halted` +\| )pushing /m, '$1idle    ');
    expect(matrixUnder('The sync loop', changed).halted!.requested).toBe('idle');
    expect(matrixUnder('The sync loop', changed)).not.toEqual(LOOP_TRANSITIONS);
  });
});
