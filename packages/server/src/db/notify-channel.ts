import postgres from 'postgres';

/**
 * One PostgreSQL LISTEN/NOTIFY channel on dedicated connections of its own, outside the store's
 * pool (the fan-out between instances: realtime/fanout-postgres.ts). The only part of `db/`
 * besides db/unavailable.ts that a layer above `store/` may import.
 */
export interface NotifyChannel {
  /**
   * LISTENs on a dedicated connection, reopened with backoff when it is lost. `onListen` runs
   * on the first LISTEN and after every reconnect; rejects when the first LISTEN fails.
   */
  listen(onPayload: (payload: string) => void, onListen: () => void): Promise<void>;
  /** `pg_notify` of each payload, in order, in one autocommit statement. */
  notify(payloads: readonly string[]): Promise<void>;
  /** Ends both connections; statements still running are rejected. */
  close(): Promise<void>;
}

/** Opens nothing yet: the connections are made by the first `listen` and `notify`. */
export function openNotifyChannel(databaseUrl: string, channel: string): NotifyChannel {
  // One client, two connections: its pool of one for NOTIFY, and the dedicated connection
  // that `sql.listen` opens (and reopens with backoff when it is lost).
  const sql = postgres(databaseUrl, {
    max: 1,
    connect_timeout: 5,
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: `mana-sync-fanout:${channel}`.slice(0, 63) },
  });
  return {
    async listen(onPayload, onListen) {
      await sql.listen(channel, onPayload, onListen);
    },
    async notify(payloads) {
      // The payloads travel as one JSON text (cast via text so the driver does not encode it twice).
      await sql`
        SELECT pg_notify(${channel}, p) FROM jsonb_array_elements_text(${JSON.stringify(payloads)}::text::jsonb) AS p`;
    },
    close: () => sql.end({ timeout: 1 }),
  };
}
