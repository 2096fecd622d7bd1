// Dexie's liveQuery (the client's outbox watch) runs only when a global indexedDB exists;
// the device itself gets its own factory below.
import 'fake-indexeddb/auto';
import { Dexie } from 'dexie';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { createSyncClient, type SyncClient, syncStores } from '../../../client/src/index.js';
import type { TestServer } from '../helpers/test-server.js';
import { DELETED_AT, type ModelChange } from '../proof/model/lww-model.js';
import { iso } from './world-clock.js';

/**
 * One of our own clients (@mana/sync-client on Dexie over fake-indexeddb) as a device of the
 * conformance suite. It syncs only when told (`sync()`: push, then pull every table, in
 * pages of `pullLimit`), and each write is made at a chosen millisecond: the client's clock
 * reads Date.now(), which is held at that time for the length of the write, so its field
 * timestamps are the history's and the run is the same for the same seed.
 */

/**
 * The client's clock keeps the Date.now it finds when the client is made, so the hold must be
 * in place before: Date.now is wrapped once for this test process and answers the real time
 * except while a write of ours is held (the suite awaits every step, so no request of another
 * client is in flight then).
 */
let held: number | null = null;

/** MANA_WEBAPP_TRACE: every request of our client and its answer, on stdout. */
const tracedFetch: typeof fetch = async (input, init) => {
  const res = await fetch(input, init);
  const body = await res.clone().text();
  process.stdout.write(
    `ours ${init?.method ?? 'GET'} ${String(input)} ${init?.body ?? ''}\n  -> ${res.status} ${body}\n`,
  );
  return res;
};
let wrapped = false;
function wrapDateNow(): void {
  if (wrapped) return;
  wrapped = true;
  const real = Date.now.bind(Date);
  Date.now = () => held ?? real();
}
export class OurClient {
  /** Writes made since the last sync, as the reference model reads them. */
  private unpushed: ModelChange[] = [];

  private constructor(
    readonly db: Dexie,
    readonly client: SyncClient,
  ) {}

  static async start(
    ts: TestServer,
    user: string,
    appId: string,
    tables: readonly string[],
    pullLimit = 3,
  ): Promise<OurClient> {
    wrapDateNow();
    const db = new Dexie('mana', { indexedDB: new IDBFactory(), IDBKeyRange });
    db.version(1).stores({ ...Object.fromEntries(tables.map((t) => [t, 'id'])), ...syncStores });
    const never = 1_000_000_000; // ms: pushes and pulls happen only in sync()
    const client = createSyncClient(db, {
      url: ts.url,
      appId,
      tables,
      getToken: () => ts.token(user),
      WebSocket: null,
      multiTab: 'off',
      pushDebounceMs: never,
      pushMaxWaitMs: never,
      pullIntervalMs: never,
      stallTimeoutMs: never,
      pullLimit,
      ...(process.env.MANA_WEBAPP_TRACE ? { fetch: tracedFetch } : {}),
    });
    await client.start();
    return new OurClient(db, client);
  }

  private async at<T>(ms: number, write: () => Promise<T>): Promise<T> {
    held = ms;
    try {
      return await write();
    } finally {
      held = null;
    }
  }

  private record(table: string, id: string, fields: Record<string, unknown>, ms: number) {
    const at = ms * 1000;
    this.unpushed.push({
      table,
      id,
      writes: Object.entries(fields).map(([name, value]) => ({ name, value: value as never, at })),
    });
  }

  async insert(table: string, id: string, fields: Record<string, unknown>, ms: number): Promise<void> {
    const row = { ...fields, createdAt: iso(ms), updatedAt: iso(ms) };
    await this.at(ms, () => this.db.table(table).add({ id, ...row }));
    // The client sends every field of a new record and `deletedAt: null` with it.
    this.record(table, id, { ...row, [DELETED_AT]: null }, ms);
  }

  async update(table: string, id: string, fields: Record<string, unknown>, ms: number): Promise<void> {
    const n = await this.at(ms, () => this.db.table(table).update(id, fields));
    if (n !== 1) throw new Error(`our client: no ${table}/${id} to update`);
    this.record(table, id, fields, ms);
  }

  async delete(table: string, id: string, ms: number): Promise<void> {
    await this.at(ms, () => this.db.table(table).delete(id));
    this.record(table, id, { [DELETED_AT]: `${iso(ms).slice(0, 23)}000Z` }, ms);
  }

  async live(table: string, id: string): Promise<boolean> {
    return (await this.db.table(table).get(id)) !== undefined;
  }

  /**
   * Push and pull everything; returns the writes the server has now accepted. Throws when the
   * client ends in error or with changes still pending.
   */
  async sync(): Promise<ModelChange[]> {
    const status = await this.client.sync();
    const pending = await this.client.pendingChanges();
    if (status.state !== 'synced' || pending.length > 0) {
      throw new Error(
        `our client did not sync: state ${status.state}, ${pending.length} pending, last error ${JSON.stringify(status.lastError)}`,
      );
    }
    const accepted = this.unpushed;
    this.unpushed = [];
    return accepted;
  }

  async visible(tables: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const t of tables) {
      for (const row of await this.db.table(t).toArray()) out.set(`${t}/${row.id}`, row);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.stop({ flush: false });
    this.db.close();
  }
}
