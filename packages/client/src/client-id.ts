import type { Dexie } from 'dexie';
import { STATE_TABLE, type StateRow, stateKey } from './schema.js';

/**
 * This device's id on the server, made on first use and kept in the state table. The server
 * leaves out of every answer the fields written under this id (the device holds them), so the
 * id must live exactly as long as the local data: clearing the data deletes it (client.ts
 * stop), and the next use makes a new one. Read per sync run, so a tab that takes over the
 * sync after another tab cleared the database uses the new id, never the forgotten one.
 */
export async function ensureClientId(db: Dexie): Promise<string> {
  const state = db.table<StateRow, string>(STATE_TABLE);
  const stored = (await state.get(stateKey.clientId))?.value;
  if (typeof stored === 'string') return stored;
  // Read again inside a write transaction: two tabs starting at once agree on one id.
  return db.transaction('rw', STATE_TABLE, async () => {
    const again = (await state.get(stateKey.clientId))?.value;
    if (typeof again === 'string') return again;
    const id = `c-${crypto.randomUUID()}`;
    await state.put({ key: stateKey.clientId, value: id });
    return id;
  });
}
