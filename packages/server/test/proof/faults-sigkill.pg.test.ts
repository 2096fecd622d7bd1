import { describe } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/databases.js';
import { freshPgDatabase } from './faults/pg-database.js';
import { proofRuns } from './proof-runs.js';
import { sigkillSuite } from './sigkill-suite.js';

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL (TEST_DATABASE_URL)', () => {
  sigkillSuite(
    'PostgreSQL',
    async () => {
      const db = await freshPgDatabase();
      return { env: { DATABASE_URL: db.url }, cleanup: db.drop };
    },
    Math.min(proofRuns(3), 20),
  );
});
