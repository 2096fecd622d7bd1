/**
 * The wire protocol's version. `test/protocol-version.test.ts` hashes the JSON Schema of
 * every wire message: a change to the wire fails it until this number is bumped and a line
 * is added to the history below.
 */
export const PROTOCOL_VERSION = 2;

export const PROTOCOL_HISTORY: ReadonlyArray<{ version: number; date: string; change: string }> = [
  {
    version: 1,
    date: '2026-11-26',
    change: 'First version: the seed wire format with DESIGN.md section 4 semantics.',
  },
  {
    version: 2,
    date: '2026-12-04',
    change:
      'GET /sync/{appId}/stream (Server-Sent Events: changes and heartbeat blocks), its query and block schemas, TOO_MANY_STREAMS.',
  },
];
