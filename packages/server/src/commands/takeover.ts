import { loadConfig } from '../config.js';
import { sql } from '../db/sql.js';
import { createLogger } from '../logger.js';
import { openDb } from '../store/open.js';
import { takeOver } from '../store/takeover.js';
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
    const db = await openDb({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    try {
      await requireSchema(db);
      // Maintenance commands do not migrate (command.ts): the merged column is migration 0006's.
      const [row] = await db.query<{ ok: boolean }>(
        sql`SELECT EXISTS (SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = 'sync_changes'
                AND column_name = 'merged') AS ok`,
      );
      if (!row?.ok) throw new OptionError('sync_changes has no merged column; run `mana-sync migrate` first');
      // Progress lines as the server logs them, on stderr; the summary on stdout.
      const logger = createLogger('info', { destination: process.stderr });
      const r = await takeOver(db, { batchSize, logger });
      process.stdout.write(
        `merged ${r.rows} Go change-log rows of ${r.users} users into ${r.recordsWritten} record writes` +
          ` (${(r.ms / 1000).toFixed(1)} s); ${r.spaceRows} rows had a space_id and were merged as their author's\n`,
      );
    } finally {
      await db.close();
    }
    return 0;
  },
};
