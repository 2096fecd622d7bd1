import { describe } from 'vitest';
import { freshPgSchema, TEST_DATABASE_URL } from '../helpers/databases.js';
import { webAppConformanceSuite } from './conformance-suite.js';

describe.skipIf(!TEST_DATABASE_URL)('PostgreSQL (TEST_DATABASE_URL)', () => {
  webAppConformanceSuite('PostgreSQL', freshPgSchema);
});
