import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Db, sql } from '../db/sql.js';

// The SQL files stay in src/ (tsc does not copy them): this path reaches them both from here
// and from the build, dist/store/migrate.js, so the published package ships src/store/migrations.
const MIGRATIONS_DIR = fileURLToPath(new URL('../../src/store/migrations/', import.meta.url));

interface Migration {
  version: number;
  name: string;
  script: string;
}

/** Numbered `NNNN_name.sql` files, in order. */
export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      script: readFileSync(join(dir, file), 'utf8'),
    }));
}

/**
 * Applies the migrations not yet applied, each in its own transaction, under an advisory
 * lock so that instances starting together do not race. Returns the versions applied.
 */
export async function migrate(db: Db): Promise<number[]> {
  const applied: number[] = [];
  await db.exec(`CREATE TABLE IF NOT EXISTS mana_sync_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
  for (const m of listMigrations()) {
    await db.transaction(async (tx) => {
      await tx.query(sql`SELECT pg_advisory_xact_lock(${7_420_001})`);
      const done = await tx.query(sql`SELECT 1 FROM mana_sync_migrations WHERE version = ${m.version}`);
      if (done.length > 0) return;
      await tx.exec(m.script);
      await tx.query(sql`INSERT INTO mana_sync_migrations (version, name) VALUES (${m.version}, ${m.name})`);
      applied.push(m.version);
    });
  }
  return applied;
}
