import { LIMITS, SyncError } from '@mana/sync-protocol';
import type { Context } from 'hono';

/**
 * The client closed its connection before its body had arrived (a chunked push cut mid-way,
 * say). Not the server's fault: no 5xx, no error log. app.ts answers it as the fast path
 * treats the same abort with a Content-Length (push-endpoint.ts): not counted, not logged as a request.
 */
export class ClientClosedError extends Error {
  override name = 'ClientClosedError';
}

/**
 * Reads the body as JSON; `emptyAs` is returned for an empty body when given, else it is BAD_JSON.
 * Called by a route once the caller is authenticated: nothing reads a body before that.
 */
export async function readJson(c: Context, emptyAs?: unknown): Promise<unknown> {
  const text = await readText(c, LIMITS.maxBodyBytes);
  if (emptyAs !== undefined && text.trim() === '') return emptyAs;
  try {
    return JSON.parse(text);
  } catch {
    throw new SyncError('BAD_JSON', 'the body is not valid JSON');
  }
}

/**
 * The body as text, at most `maxBytes`. A body of declared length was judged by its header
 * (http/steps.ts, declaredLength) and is read as it is; a chunked one is counted as it arrives and refused
 * (PAYLOAD_TOO_LARGE) at the first byte over, without reading the rest.
 */
async function readText(c: Context, maxBytes: number): Promise<string> {
  const body = c.req.raw.body;
  if (body === null || (c.req.header('content-length') !== undefined && !c.req.header('transfer-encoding')))
    return c.req.text().catch(clientClosed);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(clientClosed);
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      void reader.cancel().catch(() => {});
      throw new SyncError('PAYLOAD_TOO_LARGE', `body larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
}

/** Reading the request body fails only when the client goes away (node:http: ECONNRESET "aborted"). */
function clientClosed(err: unknown): never {
  throw new ClientClosedError(`the client closed the connection before its body arrived: ${String(err)}`);
}
