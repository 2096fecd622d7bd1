import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.js';
import { type Db, type Query, SESSION_SETTINGS } from './sql.js';

/**
 * A Db on embedded PGlite (PostgreSQL compiled to WebAssembly): the default when no
 * DATABASE_URL is set, so the server runs on a bare machine. `dataDir` keeps the data on
 * disk; undefined keeps it in memory (tests). PGlite is one connection: statements and
 * transactions run one at a time, which is also what makes its cursor order trivially safe.
 */
export async function pgliteDb(dataDir?: string): Promise<Db> {
  if (!dataDir) return wrap(await configured(await PGlite.create()), undefined);
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  try {
    return wrap(await configured(await PGlite.create(dataDir)), undefined, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

/** PGlite is one session: the settings are set once. */
async function configured(pg: PGlite): Promise<PGlite> {
  for (const [name, value] of Object.entries(SESSION_SETTINGS))
    await pg.query('SELECT set_config($1, $2, false)', [name, value]);
  return pg;
}

function wrap(pg: PGlite, tx: Transaction | undefined, unlock?: () => void): Db {
  const conn = tx ?? pg;
  return {
    kind: 'pglite',
    async query<Row>(q: Query) {
      return (await conn.query<Row>(q.text, q.values)).rows;
    },
    async queryAll(qs: Query[]) {
      const out: Array<Record<string, unknown>[]> = [];
      for (const q of qs) out.push((await conn.query<Record<string, unknown>>(q.text, q.values)).rows);
      return out;
    },
    async transaction<T>(fn: (tx: Db) => Promise<T>) {
      if (tx) return fn(wrap(pg, tx));
      return pg.transaction((t) => fn(wrap(pg, t)));
    },
    async exec(script: string) {
      await conn.exec(script);
    },
    async close() {
      if (tx) return;
      if (!pg.closed) await pg.close();
      unlock?.();
    },
  };
}
