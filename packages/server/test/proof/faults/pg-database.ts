import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { asTestRole, ensureTestRole, TEST_DATABASE_URL, TEST_ROLE } from '../../helpers/databases.js';

/**
 * A throwaway database on the test PostgreSQL, for a server started as a child process
 * (which takes a DATABASE_URL, not a schema). Dropped with FORCE afterwards.
 */
export async function freshPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `mana_proof_${randomBytes(5).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await ensureTestRole(admin);
  // Owned by the server's role (PostgreSQL 15+ lets only the owner create in its public schema).
  await admin.unsafe(`CREATE DATABASE ${name} OWNER ${TEST_ROLE}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: asTestRole(url.toString()),
    async drop() {
      const a = postgres(TEST_DATABASE_URL!, { max: 1, onnotice: () => {} });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}
