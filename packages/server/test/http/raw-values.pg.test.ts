import { describe } from 'vitest';
import { freshPgSchema, TEST_DATABASE_URL } from '../helpers/databases.js';
import { rawValuesSuite } from './raw-values-suite.js';

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL (TEST_DATABASE_URL)', () => {
  rawValuesSuite('PostgreSQL', freshPgSchema);
});
