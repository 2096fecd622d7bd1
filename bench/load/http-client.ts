import { connect, type Socket } from 'node:net';

/**
 * A minimal HTTP/1.1 keep-alive client over one TCP socket, one request in flight.
 *
 * Why not fetch or node:http: the load generator shares a 2-core machine with the server
 * it measures, so the cheaper the client, the more of the machine the server gets. Both the
 * server and its baseline are driven by this same client, so its own cost cancels out of
 * every ratio. It understands exactly what our servers send: Content-Length or chunked.
 */

export interface HttpResponse {
  status: number;
  body: Buffer;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class HttpConnection {
  private socket: Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiting: { resolve: (r: HttpResponse) => void; reject: (e: Error) => void } | undefined;
  private closed: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.tryParse();
    });
    const fail = (err: Error) => {
      this.closed = err;
      this.waiting?.reject(err);
      this.waiting = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.off('error', reject);
        resolve(new HttpConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one serialized request and resolves with the whole response. */
  send(request: Buffer): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(this.closed);
    if (this.waiting) return Promise.reject(new Error('one request at a time'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private tryParse(): void {
    if (!this.waiting) return;
    const data = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [data];
    const headEnd = data.indexOf(HEADER_END);
    if (headEnd < 0) return;
    const head = data.toString('latin1', 0, headEnd);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const bodyStart = headEnd + 4;
    let body: Buffer | undefined;
    let consumed = 0;
    const length = /\r\ncontent-length: *(\d+)/.exec(lower);
    if (length) {
      const end = bodyStart + Number(length[1]);
      if (data.length < end) return;
      body = data.subarray(bodyStart, end);
      consumed = end;
    } else if (lower.includes('\r\ntransfer-encoding: chunked')) {
      const parts: Buffer[] = [];
      let at = bodyStart;
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at);
        if (lineEnd < 0) return;
        const size = Number.parseInt(data.toString('latin1', at, lineEnd), 16);
        const chunkEnd = lineEnd + 2 + size + 2;
        if (data.length < chunkEnd) return;
        if (size === 0) {
          consumed = chunkEnd;
          break;
        }
        parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = chunkEnd;
      }
      body = Buffer.concat(parts);
    } else {
      body = Buffer.alloc(0);
      consumed = bodyStart;
    }
    const rest = data.subarray(consumed);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve({ status, body });
  }
}

/** Serializes one request: the bytes are built once per request, no header objects. */
export function httpRequest(
  method: 'GET' | 'POST',
  port: number,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (body === undefined) return Buffer.from(`${head}\r\n`, 'latin1');
  const payload = Buffer.from(body, 'utf8');
  head += `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}
