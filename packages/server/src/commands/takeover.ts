import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { openMaintenanceStore } from '../sync/maintenance.js';
import { type Command, OptionError, requireSchema, wholeNumber } from './command.js';

export const takeoverCommand: Command = {
  summary:
    "Merge the Go mana-sync service's change log into this server's records (the server does it at start too)",
  options: {
    'batch-size': { type: 'string', description: 'Go rows merged per transaction', default: '1000' },
  },
  async run(v) {
    const config = loadConfig();
    const batchSize = wholeNumber(v['batch-size'] ?? '1000', 'batch-size', 1);
    const store = await openMaintenanceStore(config);
    try {
      await requireSchema(store);
      // Maintenance commands do not migrate (command.ts): the merged column is migration 0006's.
      if (!(await store.hasMergedColumn()))
        throw new OptionError('sync_changes has no merged column; run `mana-sync migrate` first');
      // Progress lines as the server logs them, on stderr; the summary on stdout.
      const logger = createLogger('info', { destination: process.stderr });
      const r = await store.takeOver({ batchSize, logger });
      process.stdout.write(
        `merged ${r.rows} Go change-log rows of ${r.users} users into ${r.recordsWritten} record writes` +
          ` (${(r.ms / 1000).toFixed(1)} s); ${r.spaceRows} rows had a space_id and were merged as their author's\n`,
      );
    } finally {
      await store.close();
    }
    return 0;
  },
};
