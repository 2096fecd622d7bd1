import type { Duplex } from 'node:stream';
import { type ErrorCode, SyncError } from '@mana/sync-protocol';
import type { ServerContext } from './context.js';

/**
 * node:http's `clientError`: a request its parser refuses (headers over the limit, a bad
 * Content-Length, both Content-Length and Transfer-Encoding, a bad chunk) or one that took too
 * long to arrive (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS). Node's own answer has no
 * body; this one is `{ error: { code, message } }` like every other, with `Connection: close`,
 * written only while nothing of an answer went out on the socket (as Node does), then the
 * connection ends. A reset or a socket that cannot be written is just closed.
 */
export function answerClientError(ctx: ServerContext) {
  return (err: Error & { code?: string }, socket: Duplex): void => {
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const e = clientErrorOf(err.code);
    ctx.logger.debug({ code: err.code, status: e.status }, 'client error');
    const body = JSON.stringify(e.toBody());
    socket.end(
      `HTTP/1.1 ${e.status} ${REASONS[e.code] ?? 'Bad Request'}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
    socket.once('finish', () => socket.destroy());
  };
}

const REASONS: Partial<Record<ErrorCode, string>> = {
  HEADERS_TOO_LARGE: 'Request Header Fields Too Large',
  REQUEST_TIMEOUT: 'Request Timeout',
};

/** The wire error for node's parser error code (`HPE_*`, `ERR_HTTP_REQUEST_TIMEOUT`). */
export function clientErrorOf(code: string | undefined): SyncError {
  if (code === 'HPE_HEADER_OVERFLOW')
    return new SyncError(
      'HEADERS_TOO_LARGE',
      'the request line and headers are larger than the server accepts',
    );
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT')
    return new SyncError('REQUEST_TIMEOUT', 'the request took too long to arrive');
  if (code === 'HPE_INVALID_CONTENT_LENGTH' || code === 'HPE_UNEXPECTED_CONTENT_LENGTH')
    return new SyncError(
      'INVALID_REQUEST',
      'bad Content-Length (not a whole number of bytes, or beside Transfer-Encoding)',
    );
  if (code === 'HPE_INVALID_CHUNK_SIZE') return new SyncError('INVALID_REQUEST', 'bad chunked body');
  return new SyncError('INVALID_REQUEST', `malformed HTTP request${code ? ` (${code})` : ''}`);
}
