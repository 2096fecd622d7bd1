/**
 * Wire names shared by server and client: headers, query parameters, routes,
 * WebSocket message types and close codes. Change a value here and you change the wire
 * (see version.ts).
 */

export const HEADER = {
  authorization: 'authorization',
  clientId: 'x-client-id',
  requestId: 'x-request-id',
  serviceKey: 'x-service-key',
  userId: 'x-user-id',
  retryAfter: 'retry-after',
} as const;

export const QUERY = {
  collection: 'collection',
  since: 'since',
  limit: 'limit',
  collections: 'collections',
} as const;

export const ROUTE = {
  push: '/sync/:appId',
  pull: '/sync/:appId/pull',
  stream: '/sync/:appId/stream',
  wsUnified: '/ws',
  wsLegacy: '/ws/:appId',
  health: '/health',
  metrics: '/metrics',
  devToken: '/dev/token',
  devJwks: '/dev/jwks',
} as const;

export const WS_MESSAGE = {
  auth: 'auth',
  authOk: 'auth-ok',
  ping: 'ping',
  pong: 'pong',
  syncAvailable: 'sync-available',
  error: 'error',
} as const;

/** Close codes the server uses on WebSockets (4000-4999 is the application range). */
export const WS_CLOSE = {
  /** Server shutting down or restarting: reconnect with backoff. */
  goingAway: 1001,
  /** A frame broke the protocol (not JSON, unknown type, message before auth). */
  protocolError: 1002,
  /** A frame was larger than the server accepts. */
  messageTooBig: 1009,
  /** The server cannot serve this socket now (auth service down, notifications backed up): reconnect with backoff, then pull. */
  tryAgainLater: 1013,
  /** The auth token was missing, malformed or did not verify. */
  unauthorized: 4001,
  /** No auth message arrived in time. */
  authTimeout: 4002,
  /** The token expired while the socket was open: get a fresh token and reconnect. */
  tokenExpired: 4003,
  /** The user has too many sockets open. */
  tooManyConnections: 4008,
} as const;

export const LIMITS = {
  /** Largest request body the server reads. */
  maxBodyBytes: 10 * 1024 * 1024,
  /** Most changes in one push. */
  maxChangesPerPush: 10_000,
  /** Default and largest page size of a pull. */
  defaultPullLimit: 1000,
  maxPullLimit: 10_000,
  /** Deepest nesting of a field value (objects and arrays). */
  maxValueDepth: 64,
  /** Identifier lengths. */
  maxAppIdLength: 64,
  maxTableLength: 128,
  maxRecordIdLength: 256,
  maxFieldNameLength: 128,
  maxClientIdLength: 128,
  /** Largest `actor` of a change, as JSON text (UTF-16 code units). */
  maxActorLength: 1024,
  /** Most tables one SSE stream follows. */
  maxStreamCollections: 200,
  /**
   * Size and shape of a record (record-size.ts counts them, in characters of JSON): a field
   * value, the whole record, its fields. Far above what Mana apps write (a todo is about
   * 300 characters, a contact 2 KB, a long note 50 KB); a value holds a 256 KiB file inlined
   * as base64 (350 K). Larger content belongs in attachments. A limit refuses growth past it,
   * not edits of a record already over it (imported).
   */
  maxValueLength: 512 * 1024,
  maxRecordLength: 1024 * 1024,
  maxFieldsPerRecord: 1000,
} as const;

/**
 * The newest change `schemaVersion` this server understands. A changeset or change that
 * declares a newer one is refused (400 SCHEMA_VERSION_UNSUPPORTED) rather than half-understood;
 * an absent version is 1.
 */
export const SUPPORTED_SCHEMA_VERSION = 1;

/** The field that carries a record's deletion under LWW (value: ISO timestamp or null). */
export const DELETED_AT_FIELD = 'deletedAt';

/**
 * The writer stored for a field whose time the server chose (clamped for skew, or the change
 * carried none): no client id looks like it (ids.ts), so the echo rule sends the field back to
 * the client that wrote it, which does not hold that time.
 */
export const SERVER_TIME_WRITER = '(server time)';

/**
 * The writer stored for the fields a record brings back when it is undeleted: every device
 * that applied the delete dropped them, their writer too, so the echo rule sends them to all.
 */
export const RESTORED_WRITER = '(restored)';
