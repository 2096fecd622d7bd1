import { type Db, sql } from '../db/sql.js';

/**
 * Keeps the planner's statistics of sync_records current while the table grows fast.
 *
 * Without statistics PostgreSQL assumes every user has about one record, and plans the
 * push's reads with whichever index on (user_id, app_id, …) looks cheapest: seen here, a
 * scan of all of the user's records for every key of the batch, so a push slowed down as
 * the user's data grew (54 → 106 µs of database CPU per change within 60,000 changes).
 * Autovacuum analyzes a table at most once a minute, and embedded PGlite has no autovacuum
 * at all. So the store analyzes sync_records itself, in the background, whenever the
 * records it wrote since the last ANALYZE reach the table's size then (at least 1,000):
 * a few times while a table grows, then rarely.
 */
export interface StatisticsKeeper {
  /** Called after a committed push that wrote `records` records. */
  written(records: number): void;
  /** Waits for a running ANALYZE (tests, shutdown). */
  idle(): Promise<void>;
}

const MIN_CHANGES = 1_000;

export function statisticsKeeper(db: Db, onError: (err: unknown) => void = () => {}): StatisticsKeeper {
  let pending = 0;
  let threshold = MIN_CHANGES;
  let running: Promise<void> | undefined;

  async function analyze(): Promise<void> {
    await db.exec('ANALYZE sync_records');
    const [row] = await db.query<{ tuples: number }>(
      sql`SELECT reltuples::float8 AS tuples FROM pg_class WHERE oid = 'sync_records'::regclass`,
    );
    threshold = Math.max(MIN_CHANGES, Number(row?.tuples ?? 0));
  }

  return {
    written(records) {
      pending += records;
      if (running || pending < threshold) return;
      pending = 0;
      running = analyze()
        .catch(onError)
        .finally(() => {
          running = undefined;
        });
    },
    idle: () => running ?? Promise.resolve(),
  };
}
