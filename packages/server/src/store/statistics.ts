import { type Db, sql } from '../db/sql.js';

/**
 * Keeps the planner's statistics of sync_records current while the table grows fast.
 *
 * Without statistics PostgreSQL assumes every user has about one record, and may probe a
 * push's records through the (user_id, app_id, updated_at) index instead of the primary key,
 * reading all of the user's records once per key: seen here on embedded PGlite, a 100-change
 * push took 83 ms at 4,000 records and 1.2 s at 48,000 (27 ms with statistics). Autovacuum
 * analyzes a table at most once a minute, and PGlite has no autovacuum at all. So the store
 * analyzes sync_records itself, in the background, whenever the records it wrote since the
 * last ANALYZE reach the table's size then (at least 100): a few times while a table grows
 * (each doubling), then rarely. A failed ANALYZE only leaves the older statistics.
 */
interface StatisticsKeeper {
  /** Called after a committed push that wrote `records` records. */
  written(records: number): void;
  /** Waits for a running ANALYZE (tests, shutdown). */
  idle(): Promise<void>;
}

const MIN_CHANGES = 100;

export function statisticsKeeper(db: Db): StatisticsKeeper {
  let pending = 0;
  /** Records to write before the next ANALYZE; unknown until the table's size is read. */
  let threshold: number | undefined;
  let running: Promise<void> | undefined;

  /** Rows in sync_records as of its last ANALYZE, or -1 when it never had one. */
  const analyzedRows = async () =>
    Number(
      (
        await db.query<{ rows: number }>(
          sql`SELECT reltuples::float8 AS rows FROM pg_class WHERE oid = 'sync_records'::regclass`,
        )
      )[0]?.rows ?? -1,
    );

  async function check(): Promise<void> {
    // After a restart the table may be large and analyzed already: start from its size.
    threshold ??= Math.max(MIN_CHANGES, await analyzedRows());
    if (pending < threshold) return;
    pending = 0;
    await db.exec('ANALYZE sync_records');
    threshold = Math.max(MIN_CHANGES, await analyzedRows());
  }

  // Writes that arrive during an ANALYZE count towards the next one, checked when it ends.
  function kick(): void {
    if (running || pending < (threshold ?? MIN_CHANGES)) return;
    running = check()
      .catch(() => {})
      .finally(() => {
        running = undefined;
        kick();
      });
  }

  return {
    written(records) {
      pending += records;
      kick();
    },
    async idle() {
      while (running) await running;
    },
  };
}
