export type { GetToken, GetTokenOptions } from './auth.js';
export { AuthRefusedError } from './auth.js';
export {
  createSyncClient,
  type PendingChange,
  type StopOptions,
  type StopReport,
  type SyncClient,
  type SyncClientOptions,
} from './client.js';
export type { WebSocketConstructor, WebSocketLike } from './realtime.js';
export { InvalidRecordError } from './record-fields.js';
export { OUTBOX_TABLE, STATE_TABLE, syncStores } from './schema.js';
export { type SyncEvent, type SyncState, TRANSITIONS } from './state-machine.js';
export type {
  ClientReason,
  ConflictEvent,
  RefusedChange,
  SyncErrorInfo,
  SyncEvents,
  SyncStatus,
  UnsyncableRecordEvent,
} from './status.js';
