import { SyncError } from '@mana/sync-protocol';
import { isDbUnavailable } from '../db/unavailable.js';
import type { Metrics } from '../metrics.js';
import type { SyncStore } from '../store/sync-store.js';

/**
 * The store with each operation timed and its failures counted. A SyncError (a request the
 * store refused) is not a database error; everything else thrown by the store is.
 */
export function instrumentStore(store: SyncStore, metrics: Metrics): SyncStore {
  async function timed<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const startedAt = performance.now();
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof SyncError)) {
        metrics.dbErrors.inc({ operation, kind: isDbUnavailable(err) ? 'unavailable' : 'other' });
      }
      throw err;
    } finally {
      metrics.dbDuration.observe(operation, (performance.now() - startedAt) / 1000);
    }
  }
  return {
    ...store,
    push: (input) => timed('push', () => store.push(input)),
    pull: (input) => timed('pull', () => store.pull(input)),
    ping: () => timed('ping', () => store.ping()),
  };
}
