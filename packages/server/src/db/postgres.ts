import postgres from 'postgres';
import type { Db, Query } from './sql.js';

export interface PostgresOptions {
  /** Pool size. */
  max?: number;
  /** Sets search_path on every connection (tests use one schema each). */
  schema?: string;
}

/** A Db on PostgreSQL through postgres.js, with prepared statements and a bounded pool. */
export function postgresDb(url: string, opts: PostgresOptions = {}): Db {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    // Fail fast while the database is down: the request becomes a 503, not a 30 s hang.
    connect_timeout: 5,
    idle_timeout: 60,
    onnotice: () => {},
    connection: {
      application_name: 'mana-sync',
      ...(opts.schema ? { search_path: opts.schema } : {}),
    },
  });
  return wrap(sql, 'root');
}

type Sql = postgres.Sql | postgres.TransactionSql;

function run(sql: Sql, q: Query): Promise<Record<string, unknown>[]> {
  return sql.unsafe(q.text, q.values as postgres.ParameterOrJSON<never>[], { prepare: true }) as Promise<
    Record<string, unknown>[]
  >;
}

function wrap(sql: Sql, level: 'root' | 'tx'): Db {
  return {
    kind: 'postgres',
    async query<Row>(q: Query) {
      return (await run(sql, q)) as Row[];
    },
    // Issued together, postgres.js writes them back to back on the (transaction's) connection.
    queryAll: (qs: Query[]) => Promise.all(qs.map((q) => run(sql, q))),
    async transaction<T>(fn: (tx: Db) => Promise<T>) {
      if (level === 'tx') return fn(wrap(sql, 'tx'));
      return (await (sql as postgres.Sql).begin((tx) => fn(wrap(tx, 'tx')))) as T;
    },
    async exec(script: string) {
      await sql.unsafe(script);
    },
    async close() {
      if (level === 'root') await (sql as postgres.Sql).end({ timeout: 5 });
    },
  };
}
