import { connect, type Socket } from 'node:net';

/** An HTTP/1.1 answer as read off a raw socket. */
export interface RawResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

/**
 * A client on a bare TCP socket: it sends what a test says (a request head, part of a body)
 * and nothing more, like a slow or hostile client, and reads the first answer. `response`
 * rejects when the connection closes without one; `closed` resolves when it closes at all.
 */
export interface RawClient {
  socket: Socket;
  response: Promise<RawResponse>;
  closed: Promise<void>;
}

export async function rawClient(
  baseUrl: string,
  send: string | Buffer = '',
  opts: { localAddress?: string } = {},
): Promise<RawClient> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect({ host: hostname, port: Number(port), ...opts });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {}); // a reset after the answer: 'close' follows
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let received = Buffer.alloc(0);
  const response = new Promise<RawResponse>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parse(received);
      if (parsed) {
        socket.off('data', onData);
        resolve(parsed);
      }
    };
    socket.on('data', onData);
    socket.once('close', () =>
      reject(new Error(`closed without an answer: ${JSON.stringify(String(received))}`)),
    );
  });
  response.catch(() => {});
  if (send.length > 0) socket.write(send);
  return { socket, response, closed };
}

function parse(buf: Buffer): RawResponse | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (buf.length < end + 4 + length) return undefined;
  return {
    status: Number(statusLine!.split(' ')[1]),
    headers,
    body: buf.subarray(end + 4, end + 4 + length).toString('utf8'),
  };
}
