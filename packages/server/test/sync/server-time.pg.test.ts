import { describe } from 'vitest';
import { freshPgSchema, TEST_DATABASE_URL } from '../helpers/databases.js';
import { serverTimeSuite } from './server-time-suite.js';

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL (TEST_DATABASE_URL)', () => {
  serverTimeSuite('PostgreSQL', freshPgSchema);
});
