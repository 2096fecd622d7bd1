import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/commands/stats.js';

describe('mana-sync stats table', () => {
  it('totals every column but users, which shows "-" (a user of two apps is in both rows)', () => {
    const out = formatTable([
      { appId: 'todo', records: 3, deletedRecords: 1, changes: 5, users: 2 },
      { appId: 'calendar', records: 10, deletedRecords: 0, changes: 12, users: 2 },
    ]);
    const rows = out
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s+/));
    expect(rows).toEqual([
      ['app', 'records', 'deleted', 'changes', 'users'],
      ['todo', '3', '1', '5', '2'],
      ['calendar', '10', '0', '12', '2'],
      ['(all)', '13', '1', '17', '-'],
    ]);
  });

  it('shows the "(all)" row the same way without any app', () => {
    expect(formatTable([]).trimEnd().split('\n').at(-1)!.split(/\s+/)).toEqual(['(all)', '0', '0', '0', '-']);
  });
});
