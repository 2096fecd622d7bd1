import { mkdirSync } from 'node:fs';
import { PGlite, type PGliteOptions, type Transaction } from '@electric-sql/pglite';
import { lockDataDir } from './data-dir-lock.js';
import { SET_MAINTENANCE, setUserStatement } from './row-security.js';
import { type Db, type Query, SESSION_SETTINGS } from './sql.js';

/**
 * A Db on embedded PGlite (PostgreSQL compiled to WebAssembly): the default when no
 * DATABASE_URL is set, so the server runs on a bare machine. `dataDir` keeps the data on
 * disk; undefined keeps it in memory (tests). PGlite is one connection: statements and
 * transactions run one at a time, which is also what makes its cursor order trivially safe.
 */
export async function pgliteDb(dataDir?: string): Promise<Db> {
  if (!dataDir) return wrap(await configured(await PGlite.create(PGLITE_OPTIONS)), undefined);
  mkdirSync(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  try {
    return wrap(await configured(await PGlite.create(dataDir, PGLITE_OPTIONS)), undefined, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

/**
 * PGlite's start-up options: its defaults (single-user mode, fsync off, no parallel workers),
 * plus a smaller buffer cache. PostgreSQL's default shared_buffers, 128MB, lives in the WASM
 * heap and is resident from the start: measured on an existing data directory, 311 MB
 * resident 3 s after PGlite.create() with the default, 165 MB with 16MB
 * (docs/benchmarks.md, "Footprint"). One connection on a developer's machine or a small
 * instance does not use more; the operating system's page cache still holds the data files.
 * What remains is PGlite's floor: the 128 MB WASM memory it declares as its minimum
 * (initialMemory cannot go lower) and the compiled pglite.wasm.
 */
export const PGLITE_OPTIONS = {
  startParams: [
    ...PGlite.defaultStartParams,
    '-c',
    'shared_buffers=16MB',
    // The session settings as start parameters: no statements at start (see SESSION_SETTINGS).
    ...Object.entries(SESSION_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ],
} satisfies PGliteOptions;

/**
 * The role the embedded database serves as. PGlite's one user, `postgres`, is a superuser,
 * and a superuser skips row-level security even where it is forced; so the session switches
 * to this role, which is neither superuser nor BYPASSRLS and owns the tables (it migrates them
 * and runs ANALYZE; FORCE makes the policies bind their owner too).
 */
const PGLITE_ROLE = 'mana_sync';

/**
 * PGlite is one session: the role is set once (the settings are start parameters). The role,
 * its grant and the ownership are made only when missing: on every later start that is one
 * read instead of catalog writes (a start-up cost: docs/benchmarks.md, "Footprint").
 */
async function configured(pg: PGlite): Promise<PGlite> {
  const [state] = (
    await pg.query<{ ready: boolean | null }>(`
      SELECT CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = '${PGLITE_ROLE}') THEN
        has_schema_privilege('${PGLITE_ROLE}', 'public', 'CREATE')
        AND has_schema_privilege('${PGLITE_ROLE}', 'public', 'USAGE')
        AND NOT EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner <> '${PGLITE_ROLE}')
      END AS ready`)
  ).rows;
  // As postgres, idempotently: the role, the right to create tables in public, and the tables
  // a data directory from before this role (created as postgres) already has.
  if (!state?.ready)
    await pg.exec(`
      DO $$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PGLITE_ROLE}') THEN
          CREATE ROLE ${PGLITE_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
        END IF;
      END $$;
      GRANT ALL ON SCHEMA public TO ${PGLITE_ROLE};
      DO $$ DECLARE t text; BEGIN
        FOR t IN SELECT tablename FROM pg_tables
                 WHERE schemaname = 'public' AND tableowner <> '${PGLITE_ROLE}' LOOP
          EXECUTE format('ALTER TABLE public.%I OWNER TO ${PGLITE_ROLE}', t);
        END LOOP;
      END $$;`);
  await pg.exec(`SET ROLE ${PGLITE_ROLE}`);
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
    forUser: (userId) => scoped(pg, tx, setUserStatement(userId)),
    maintenance: () => scoped(pg, tx, SET_MAINTENANCE),
    async close() {
      if (tx) return;
      if (!pg.closed) await pg.close();
      unlock?.();
    },
  };
}

/** Statements each in a transaction that first runs `setting` (see Db.forUser). */
function scoped(pg: PGlite, tx: Transaction | undefined, setting: Query): Db {
  const within = async <T>(fn: (t: Transaction) => Promise<T>): Promise<T> => {
    if (tx) {
      await tx.query(setting.text, setting.values);
      return fn(tx);
    }
    return pg.transaction(async (t) => {
      await t.query(setting.text, setting.values);
      return fn(t);
    });
  };
  return {
    kind: 'pglite',
    query: <Row>(q: Query) => within(async (t) => (await t.query<Row>(q.text, q.values)).rows),
    queryAll: (qs: Query[]) =>
      within(async (t) => {
        const out: Array<Record<string, unknown>[]> = [];
        for (const q of qs) out.push((await t.query<Record<string, unknown>>(q.text, q.values)).rows);
        return out;
      }),
    transaction: <T>(fn: (tx: Db) => Promise<T>) => within((t) => fn(wrap(pg, t))),
    exec: (script: string) => within(async (t) => void (await t.exec(script))),
    forUser: (userId) => scoped(pg, tx, setUserStatement(userId)),
    maintenance: () => scoped(pg, tx, SET_MAINTENANCE),
    async close() {},
  };
}
