import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proofRuns } from './proof-runs.js';
import { sigkillSuite } from './sigkill-suite.js';

// Embedded PGlite on disk: the default deployment on a single machine.
sigkillSuite(
  'PGlite on disk',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mana-proof-kill-'));
    return {
      env: { MANA_SYNC_DATA_DIR: dir },
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  Math.min(proofRuns(3), 20),
);
