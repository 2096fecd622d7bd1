import { describe } from 'vitest';
import { freshPgSchema, TEST_DATABASE_URL } from '../helpers/databases.js';
import { rowSecuritySuite } from './row-security-suite.js';

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL (TEST_DATABASE_URL)', () => {
  rowSecuritySuite('PostgreSQL', freshPgSchema);
});
