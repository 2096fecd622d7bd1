/**
 * SQL as tagged templates: `sql\`select … where user_id = ${userId}\`` becomes one
 * parameterized statement ($1, $2, …) that both drivers run unchanged. Values are never
 * spliced into the text. Fragments compose: a `Query` interpolated into another is inlined
 * with its parameters renumbered.
 */

type SqlValue = string | number | boolean | null;

export interface Query {
  readonly text: string;
  readonly values: SqlValue[];
  /**
   * Text columns the caller takes as UTF-8 bytes (a Uint8Array) rather than a string, where
   * the driver can hand them over undecoded (postgres.js; PGlite returns strings). Why: a
   * large record's raw values go from the database to the socket without being decoded and
   * encoded again (store/raw-change.ts).
   */
  readonly bytes?: readonly string[];
}

/** `q`, its `columns` taken as bytes where the driver can (Query.bytes). */
export function asBytes(q: Fragment, columns: readonly string[]): Fragment {
  return { ...q, bytes: columns };
}

const QUERY = Symbol('sql.query');
export type Fragment = Query & { [QUERY]: true };

export function sql(strings: TemplateStringsArray, ...params: Array<SqlValue | Fragment>): Fragment {
  let text = strings[0]!;
  const values: SqlValue[] = [];
  params.forEach((p, i) => {
    if (p !== null && typeof p === 'object' && QUERY in p) {
      const offset = values.length;
      text += p.text.replace(/\$(\d+)/g, (_, n) => `$${Number(n) + offset}`);
      values.push(...p.values);
    } else {
      values.push(p as SqlValue);
      text += `$${values.length}`;
    }
    text += strings[i + 1]!;
  });
  return { text, values, [QUERY]: true };
}

/** The one small interface both stores (postgres.js and PGlite) implement. */
export interface Db {
  readonly kind: 'postgres' | 'pglite';
  query<Row = Record<string, unknown>>(q: Query): Promise<Row[]>;
  /**
   * Runs statements in order and returns each one's rows. postgres.js sends them all before
   * reading the first answer (pipelining: one round trip instead of one each); PGlite runs
   * them one after another. If one fails, the transaction it runs in fails.
   */
  queryAll(qs: Query[]): Promise<Array<Record<string, unknown>[]>>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
  /** Runs a script of several statements with no parameters (migrations only). */
  exec(script: string): Promise<void>;
  /**
   * This database as one user under row-level security (db/row-security.ts): each `query` and
   * `queryAll` runs in its own transaction that first sets app.current_user_id (on
   * PostgreSQL the setting goes out with the statements, after BEGIN), and `transaction` sets
   * it first. The
   * sync tables then show and accept that user's rows only. Throws on an empty user id.
   * Inside a transaction it sets the user for the rest of that transaction.
   */
  forUser(userId: string): Db;
  /**
   * The one way past the user isolation: this database with the maintenance policy open, for
   * operator commands that read across users (`mana-sync compact`, `stats`, the takeover).
   * Never on a request path.
   */
  maintenance(): Db;
  close(): Promise<void>;
}

/**
 * Settings of every session the server opens, on both stores.
 *
 * `enable_bitmapscan = off`: every statement names one user, and the planner estimates a user at
 * 0.5 % of sync_records (migration 0002). For a user with more records than that, a page read
 * (`… ORDER BY updated_at LIMIT 1001`) looked cheaper as a bitmap scan of all of the user's
 * records in the table plus a sort than as the ordered scan of `sync_records_pull` that stops
 * after one page: seen here, 37 ms instead of 3.5 ms a page at 37,000 records, growing with the
 * user. No statement of ours needs a bitmap scan: each has an index that matches its order.
 *
 * `plan_cache_mode = force_generic_plan`: our statements are prepared, and their plans do not
 * depend on the values (one user, an index for each order). PostgreSQL plans the first five
 * runs of each with the values and then keeps doing so whenever the generic plan's estimate is
 * higher, as it is for a push's page (a recursive CTE): planning was 6 % of the database's CPU
 * in the push benchmark. Generic plans are made again after each ANALYZE.
 */
export const SESSION_SETTINGS = {
  enable_bitmapscan: 'off',
  plan_cache_mode: 'force_generic_plan',
} as const;
