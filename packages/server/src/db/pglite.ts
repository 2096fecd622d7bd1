import { mkdirSync } from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Db, Query } from './sql.js';

/**
 * A Db on embedded PGlite (PostgreSQL compiled to WebAssembly): the default when no
 * DATABASE_URL is set, so the server runs on a bare machine. `dataDir` keeps the data on
 * disk; undefined keeps it in memory (tests). PGlite is one connection: statements and
 * transactions run one at a time, which is also what makes its cursor order trivially safe.
 */
export async function pgliteDb(dataDir?: string): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  return wrap(pg, pg);
}

function wrap(pg: PGlite, conn: PGlite | Transaction): Db {
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
      if (conn !== pg) return fn(wrap(pg, conn));
      return pg.transaction((tx) => fn(wrap(pg, tx)));
    },
    async exec(script: string) {
      await conn.exec(script);
    },
    async close() {
      if (conn === pg && !pg.closed) await pg.close();
    },
  };
}
