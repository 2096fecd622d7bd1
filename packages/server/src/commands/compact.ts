import { loadConfig } from '../config.js';
import { openMaintenanceStore } from '../sync/maintenance.js';
import { type Command, requireSchema, wholeNumber } from './command.js';

const DAY_MS = 86_400_000;
/** Progress lines at most this often (plus one at the end). */
const PROGRESS_EVERY_MS = 1000;

export const compactCommand: Command = {
  summary: 'Drop change-log rows older than a retention (sync_records, the state, is kept)',
  options: {
    'older-than': {
      type: 'string',
      description: 'Retention in days (default: LOG_RETENTION_DAYS, 30)',
    },
    'batch-size': { type: 'string', description: 'Rows deleted per transaction', default: '5000' },
  },
  async run(v) {
    const config = loadConfig();
    const days =
      v['older-than'] === undefined ? config.logRetentionDays : wholeNumber(v['older-than'], 'older-than', 0);
    const batchSize = wholeNumber(v['batch-size'] ?? '5000', 'batch-size', 1);
    const before = new Date(Date.now() - days * DAY_MS);
    const store = await openMaintenanceStore(config);
    const started = performance.now();
    try {
      await requireSchema(store);
      process.stderr.write(
        `compact: dropping log rows created before ${before.toISOString()} (${days} days)\n`,
      );
      let lastLine = 0;
      const result = await store.compact({
        before,
        batchSize,
        onProgress(p) {
          const now = performance.now();
          if (now - lastLine < PROGRESS_EVERY_MS) return;
          lastLine = now;
          process.stderr.write(
            `compact: ${p.usersDone}/${p.usersTotal} users, ${p.rowsDeleted} rows deleted\n`,
          );
        },
      });
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      process.stderr.write(
        `compact: ${result.users}/${result.users} users, ${result.rowsDeleted} rows deleted\n`,
      );
      process.stdout.write(
        `deleted ${result.rowsDeleted} change-log rows older than ${days} days (${result.users} users, ${seconds} s); sync_records untouched\n`,
      );
    } finally {
      await store.close();
    }
    return 0;
  },
};
