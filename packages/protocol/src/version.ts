/**
 * The wire protocol's version. `test/protocol-version.test.ts` hashes the JSON Schema of
 * every wire message: a change to the wire fails it until this number is bumped and a line
 * is added to the history below.
 */
export const PROTOCOL_VERSION = 6;

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
      'The Mana web app contract (DESIGN.md section 12): server changes are op update (fields, possibly a part of the record) or delete (with deletedAt), never insert, and leave out the fields the asking client wrote; eventId and actors on server changes; field times with milliseconds when the microseconds are zero; schemaVersion and actor on pushes (SCHEMA_VERSION_UNSUPPORTED); the SSE stream GET /sync/{appId}/stream.',
  },
  {
    version: 3,
    date: '2026-12-04',
    change:
      "Value types (value-types.ts): an optional `type` beside the value on pushed fields and server changes' fields, and `clientType`/`serverType` on conflicts, saying how a plain-JSON value encodes a Date, BigInt, NaN/Infinity, undefined, Map, Set, bytes or a Blob; the server stores it per field and sends it back, and a write without one clears it.",
  },
  {
    version: 4,
    date: '2026-12-04',
    change:
      'Error code TOKEN_LIFETIME (401): a token without exp, or living longer than the server accepts (JWT_MAX_TTL_S). Size limits of a record (LIMITS.maxValueLength, maxRecordLength, maxFieldsPerRecord, counted by record-size.ts): a push that makes a record grow past one is refused whole with 413 RECORD_TOO_LARGE or 400 TOO_MANY_FIELDS, path naming the change; pages stop at a byte budget (PAGE_MAX_BYTES) as well as at limit.',
  },
  {
    version: 5,
    date: '2026-12-04',
    change:
      'Server hardening (issue 20): 503 TOO_MANY_CONNECTIONS (connection caps); a deletedAt field value (fields.deletedAt.value, data.deletedAt) is a timestamp or null, else 400 INVALID_REQUEST; timestamps from 0001-01-01 to 9999-12-31T23:59:59.999999Z are accepted and kept to the microsecond (before: 1970 to about 2255 exactly).',
  },
  {
    version: 6,
    date: '2026-12-05',
    change:
      'HTTP edges (issue 22): error codes REQUEST_TIMEOUT (408), HEADERS_TOO_LARGE (431) and UPGRADE_REQUIRED (426: GET /ws or /ws/{appId} without Upgrade: websocket, before: 404); a request node:http refuses (headers too large, a bad Content-Length or chunk, too slow to arrive) gets a JSON error body like every other (400 INVALID_REQUEST, 408, 431), with Connection: close.',
  },
];
