/**
 * What the transports need to write a page the store returned (a pull's, a push's answer, a
 * stream's block): large records come as RawChange, written piece by piece (pageChunks).
 * Re-exported here so that http/ and realtime/ reach the store's results through sync/ only.
 */
export { type Piece, pageChunks, RawChange } from '../store/raw-change.js';
export type { PullResult, PushResult } from '../store/sync-store.js';
