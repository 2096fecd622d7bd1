import { z } from 'zod';

/**
 * Stable error codes. Each is part of the wire: a client may branch on it, so a code is
 * never renamed or reused for something else. The HTTP status lives beside it.
 */
export const ERROR_CODES = {
  /** The request body is not valid JSON. */
  BAD_JSON: 400,
  /** The body, query or path does not match the schema (`path` names the offending part), or the HTTP request itself is malformed. */
  INVALID_REQUEST: 400,
  /** The changeset or a change declares a `schemaVersion` newer than this server supports; `path` names it. */
  SCHEMA_VERSION_UNSUPPORTED: 400,
  /** No credentials, or a token or service key that does not verify. */
  UNAUTHORIZED: 401,
  /** The token has expired: fetch a fresh one and retry. */
  TOKEN_EXPIRED: 401,
  /** The token has no `exp`, or lives longer (`exp - iat`) than the server accepts (JWT_MAX_TTL_S). */
  TOKEN_LIFETIME: 401,
  /** The request took longer to arrive than the server waits (its headers, or the whole request); the connection is closed. */
  REQUEST_TIMEOUT: 408,
  /** The request line and headers are larger than the server accepts (16 KiB); the connection is closed. */
  HEADERS_TOO_LARGE: 431,
  /** The route does not exist. */
  NOT_FOUND: 404,
  /** The method is not allowed on this route. */
  METHOD_NOT_ALLOWED: 405,
  /** A WebSocket route (`/ws`, `/ws/{appId}`) asked without `Upgrade: websocket`; the answer says `Upgrade: websocket`. */
  UPGRADE_REQUIRED: 426,
  /** The body is larger than the server accepts (10 MB). */
  PAYLOAD_TOO_LARGE: 413,
  /** A change would make a field value or a record larger than LIMITS allows; `path` names the change (and field). Nothing was written. */
  RECORD_TOO_LARGE: 413,
  /** A change would give a record more fields than LIMITS.maxFieldsPerRecord; `path` names the change. Nothing was written. */
  TOO_MANY_FIELDS: 400,
  /** The user sent too many requests, or the client address too many bad credentials; wait `Retry-After` seconds. */
  RATE_LIMITED: 429,
  /** The user has too many SSE streams open on this server instance; close one (or retry later). */
  TOO_MANY_STREAMS: 429,
  /** An unexpected server fault; logged with the request id. */
  INTERNAL: 500,
  /** The database cannot be reached right now; retry after `Retry-After` seconds. Nothing was written. */
  DB_UNAVAILABLE: 503,
  /** The auth service's JWKS cannot be fetched right now; retry later. */
  AUTH_UNAVAILABLE: 503,
  /** The server is shutting down; retry against another instance or later. */
  SHUTTING_DOWN: 503,
  /** This instance, or this client address, has as many connections open as it allows; retry later. */
  TOO_MANY_CONNECTIONS: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const errorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/** Body of every error response: `{ error: { code, message, path? } }`. */
export const errorBodySchema = z.object({
  error: z.object({
    code: errorCodeSchema,
    message: z.string(),
    path: z.string().optional(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** An error that carries a wire code; thrown by the server's edges and the client. */
export class SyncError extends Error {
  override name = 'SyncError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.path ? { path: this.path } : {}) } };
  }
}
