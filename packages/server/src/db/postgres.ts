import postgres from 'postgres';
import { SET_MAINTENANCE, setUserStatement } from './row-security.js';
import { type Db, type Query, SESSION_SETTINGS } from './sql.js';
import { outageOf } from './unavailable.js';

interface PostgresOptions {
  /** Pool size. */
  max?: number;
  /** Sets search_path on every connection (tests use one schema each). */
  schema?: string;
  /** A statement or transaction running longer than this makes the pool be replaced. */
  stuckMs?: number;
}

/**
 * postgres.js 3.4.9 (the latest release) can throw from a `setImmediate` after a connection
 * dropped: `TypeError: Cannot read properties of null (reading 'write')` in `nextWrite`
 * (porsager/postgres#1154, #1208; fix not released). Thrown from a timer, it escapes every
 * await and kills the process, so a database restart took the server down with it. The
 * query that write belonged to was already rejected with CONNECTION_CLOSED (the request
 * answers 503), so the write is moot: this exact error is logged and ignored. Any other
 * uncaught exception still ends the process, as Node's default does.
 */
let guardInstalled = false;
function isPostgresNullSocketWrite(err: unknown): boolean {
  return (
    err instanceof TypeError &&
    /reading 'write'/.test(err.message) &&
    /nextWrite/.test(err.stack ?? '') &&
    /postgres[\\/]src[\\/]connection\.js/.test(err.stack ?? '')
  );
}
function guardPostgresNullSocketWrite(): void {
  if (guardInstalled) return;
  guardInstalled = true;
  process.on('uncaughtException', (err) => {
    if (isPostgresNullSocketWrite(err)) {
      process.emitWarning('postgres.js wrote to a closed connection (porsager/postgres#1154); ignored');
      return;
    }
    // Another handler (a test runner) reports it; otherwise keep Node's default: crash.
    if (process.listenerCount('uncaughtException') > 1) return;
    process.stderr.write(`${err?.stack ?? String(err)}\n`);
    process.exit(7);
  });
}

/**
 * A Db on PostgreSQL through postgres.js, with prepared statements and a bounded pool.
 *
 * Self-healing: postgres.js 3.4.9 can leave a connection that dropped mid-write unable to
 * send again (its deferred-write timer is cleared but not reset), and a request on it waits
 * forever. So after a connection loss, or when a statement or transaction is still running
 * after `stuckMs` (15 s, well above what a healthy push takes), the whole pool is
 * replaced by a fresh one and the old one is ended: queries still running on it get 5 s to
 * finish, then are rejected (their requests answer 503 and the client retries).
 */
export function postgresDb(url: string, opts: PostgresOptions = {}): Db {
  guardPostgresNullSocketWrite();
  const make = () =>
    postgres(url, {
      max: opts.max ?? 10,
      // Fail fast while the database is down: the request becomes a 503, not a 30 s hang.
      connect_timeout: 5,
      idle_timeout: 60,
      onnotice: () => {},
      connection: {
        application_name: 'mana-sync',
        ...SESSION_SETTINGS,
        ...(opts.schema ? { search_path: opts.schema } : {}),
      },
    });
  let sql = make();
  let replacedAt = 0;
  let closed = false;
  const replace = (old: postgres.Sql) => {
    if (closed || old !== sql || Date.now() - replacedAt < 1000) return;
    replacedAt = Date.now();
    sql = make();
    old.end({ timeout: 5 }).catch(() => {});
  };
  const run = async <T>(fn: (s: postgres.Sql) => Promise<T>): Promise<T> => {
    const s = sql;
    const stuck = setTimeout(() => replace(s), opts.stuckMs ?? 15_000);
    stuck.unref();
    try {
      return await fn(s);
    } catch (err) {
      // After a lost connection the pool's others may be broken too (see above).
      if (outageOf(err) === 'connection-lost') replace(s);
      throw err;
    } finally {
      clearTimeout(stuck);
    }
  };
  /**
   * Statements each in a transaction that first runs `setting` (see Db.forUser), through
   * postgres.js's begin(), which rejects when the connection closes mid-transaction (a
   * reserved connection does not: a statement sent on one that closed waits forever).
   */
  const scoped = (setting: Query): Db => ({
    kind: 'postgres',
    query: async <Row>(q: Query) => (await run((s) => settingThen(s, setting, [q])))[0] as Row[],
    queryAll: (qs: Query[]) => run((s) => settingThen(s, setting, qs)),
    transaction: <T>(fn: (tx: Db) => Promise<T>) =>
      run(async (s) => (await s.begin((tx) => settingFirst(tx, setting, fn))) as T),
    exec: (script: string) =>
      run(async (s) => void (await s.begin((tx) => settingFirst(tx, setting, (t) => t.exec(script))))),
    forUser: (userId) => scoped(setUserStatement(userId)),
    maintenance: () => scoped(SET_MAINTENANCE),
    async close() {},
  });
  return {
    kind: 'postgres',
    query: <Row>(q: Query) => run(async (s) => (await statement(s, q)) as Row[]),
    // Outside a transaction the pool may spread statements over connections: run them in turn.
    queryAll: (qs: Query[]) =>
      run(async (s) => {
        const out: Array<Record<string, unknown>[]> = [];
        for (const q of qs) out.push(await statement(s, q));
        return out;
      }),
    transaction: <T>(fn: (tx: Db) => Promise<T>) =>
      run(async (s) => (await s.begin((tx) => fn(wrap(tx)))) as T),
    exec: (script: string) => run(async (s) => void (await s.unsafe(script))),
    forUser: (userId) => scoped(setUserStatement(userId)),
    maintenance: () => scoped(SET_MAINTENANCE),
    async close() {
      closed = true;
      await sql.end({ timeout: 5 });
    },
  };
}

function statement(s: postgres.Sql | postgres.TransactionSql, q: Query): Promise<Record<string, unknown>[]> {
  const pending = s.unsafe(q.text, q.values as postgres.ParameterOrJSON<never>[], { prepare: true });
  if (q.bytes === undefined) return pending as Promise<Record<string, unknown>[]>;
  const bytes = new Set(q.bytes);
  // Sent when awaited, like postgres.js's own queries: a `then` here would send it before the
  // statements listed ahead of it (the user setting of forUser).
  const decoded = {
    // biome-ignore lint/suspicious/noThenProperty: a lazy thenable, as postgres.js's queries are
    then: (resolve: (rows: Rows) => unknown, reject: (err: unknown) => unknown) =>
      pending
        .raw()
        .then((rows) => rows.map((row) => decodeRow(rows.columns, row, bytes)))
        .then(resolve, reject),
  };
  return decoded as unknown as Promise<Rows>;
}

/**
 * A row of a raw query (every column as the bytes of its text) as postgres.js would have made
 * it, but for the columns in `bytes`, left as they came (a view of the received message, no
 * copy). The rest decode as postgres.js's own DataRow does (connection.js).
 */
function decodeRow(
  columns: postgres.ColumnList<string>,
  row: (Buffer | null)[],
  bytes: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  columns.forEach((column, i) => {
    const raw = row[i]!;
    const parser = column.parser as (((text: string) => unknown) & { array?: boolean }) | undefined;
    out[column.name] =
      raw === null || bytes.has(column.name)
        ? raw
        : parser === undefined
          ? raw.toString('utf8')
          : parser(raw.toString('utf8', parser.array === true ? 1 : 0));
  });
  return out;
}

type Rows = Record<string, unknown>[];

/**
 * `setting` then `qs` in one transaction: the setting and the statements are written together
 * (one round trip after BEGIN's); nothing is returned before COMMIT has answered.
 */
async function settingThen(s: postgres.Sql, setting: Query, qs: Query[]): Promise<Rows[]> {
  const rows = (await s.begin((tx) =>
    Promise.all([statement(tx, setting), ...qs.map((q) => statement(tx, q))]),
  )) as unknown as Rows[];
  return rows.slice(1);
}

/**
 * A transaction that runs `setting` first. The setting goes out with the transaction's first
 * statements (not awaited on its own), so it costs no round trip; statements run in order, so
 * if it failed, they fail with it (and postgres.js rolls back a transaction in which any
 * statement failed, even one whose error `fn` caught).
 */
async function settingFirst<T>(
  tx: postgres.TransactionSql,
  setting: Query,
  fn: (tx: Db) => Promise<T>,
): Promise<T> {
  const set = statement(tx, setting).then(
    () => undefined,
    (err: unknown) => ({ err }),
  );
  const result = await fn(wrap(tx));
  const failed = await set;
  if (failed) throw failed.err;
  return result;
}

/** A Db inside a transaction: statements run on the transaction's connection. */
function wrap(tx: postgres.TransactionSql): Db {
  return {
    kind: 'postgres',
    async query<Row>(q: Query) {
      return (await statement(tx, q)) as Row[];
    },
    // Issued together, postgres.js writes them back to back on the transaction's connection
    // (pipelining: one round trip) and they run in order.
    queryAll(qs: Query[]) {
      return Promise.all(qs.map((q) => statement(tx, q)));
    },
    transaction(fn) {
      return fn(wrap(tx));
    },
    async exec(script: string) {
      await tx.unsafe(script);
    },
    forUser: (userId) => settingInside(wrap(tx), setUserStatement(userId)),
    maintenance: () => settingInside(wrap(tx), SET_MAINTENANCE),
    async close() {},
  };
}

/** Inside a transaction: each call sends `setting` first (it holds until the transaction ends). */
function settingInside(inner: Db, setting: Query): Db {
  return {
    ...inner,
    query: async <Row>(q: Query) => (await inner.queryAll([setting, q]))[1] as Row[],
    queryAll: async (qs: Query[]) => (await inner.queryAll([setting, ...qs])).slice(1),
    transaction: (fn) =>
      inner.transaction(async (t) => {
        await t.query(setting);
        return fn(t);
      }),
  };
}
