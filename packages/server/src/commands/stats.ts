import { loadConfig } from '../config.js';
import { type AppStats, openMaintenanceStore } from '../sync/maintenance.js';
import { type Command, requireSchema } from './command.js';

export const statsCommand: Command = {
  summary: 'Show records, change-log rows and users per app',
  options: { json: { type: 'boolean', description: 'Print JSON instead of a table' } },
  async run(v) {
    const config = loadConfig();
    const store = await openMaintenanceStore(config);
    try {
      await requireSchema(store);
      const stats = await store.stats();
      process.stdout.write(v.json ? `${JSON.stringify({ apps: stats }, null, 2)}\n` : formatTable(stats));
    } finally {
      await store.close();
    }
    return 0;
  },
};

/**
 * The table `mana-sync stats` prints, with an "(all)" row of totals. Its users cell is "-":
 * a user of two apps counts in both rows, so the column does not add up, and the store
 * reports users per app only.
 */
export function formatTable(stats: AppStats[]): string {
  const header = ['app', 'records', 'deleted', 'changes', 'users'];
  const rows = stats.map((s) => [s.appId, s.records, s.deletedRecords, s.changes, s.users].map(String));
  const total = stats.reduce((t, s) => t + s.records, 0);
  rows.push([
    '(all)',
    String(total),
    String(stats.reduce((t, s) => t + s.deletedRecords, 0)),
    String(stats.reduce((t, s) => t + s.changes, 0)),
    '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}
