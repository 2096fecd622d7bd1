/**
 * The wire protocol's version. `test/protocol-version.test.ts` hashes the JSON Schema of
 * every wire message: a change to the wire fails it until this number is bumped and a line
 * is added to the history below.
 */
export const PROTOCOL_VERSION = 1;

export const PROTOCOL_HISTORY: ReadonlyArray<{ version: number; date: string; change: string }> = [
  {
    version: 1,
    date: '2026-11-26',
    change: 'First version: the seed wire format with DESIGN.md section 4 semantics.',
  },
];
