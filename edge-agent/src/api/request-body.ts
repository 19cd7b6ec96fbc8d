// The infer route's body, read with a size limit. Served by @hono/node-server, the bytes come straight from Node's
// IncomingMessage. Touching the web Request's body instead (as hono's bodyLimit middleware does, to see whether
// there is one) makes node-server build a full undici Request, with a ReadableStream and an AbortSignal, for every
// request: 0.28 ms of the agent's CPU per request on this server (a CPU profile of `cleave edge`), 4 ms on a
// Pi-class gateway, for a body that is then copied once more. Under `app.request` (tests, no Node request) the
// web body is read, with the same limit.
import type { IncomingMessage } from 'node:http';
import type { ReadableStream as WebStream } from 'node:stream/web';
import type { Context } from 'hono';

/** The body is larger than the limit (declared by Content-Length, or counted while reading a chunked body). */
export class BodyTooLargeError extends Error {}

/** Reads the whole body of `c`, refusing more than `maxBytes`. */
export async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && c.req.header('transfer-encoding') === undefined && Number(declared) > maxBytes) {
    throw new BodyTooLargeError(`Content-Length ${declared}`);
  }
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming !== undefined && typeof incoming.on === 'function' && !incoming.readableDidRead) {
    return readIncoming(incoming, maxBytes);
  }
  const body = c.req.raw.body as WebStream<Uint8Array> | null;
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    const value = next.value;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new BodyTooLargeError(`more than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

/** Node's request stream to bytes; past the limit the rest is discarded (not buffered) so the 413 can be sent. */
function readIncoming(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        incoming.off('data', onData);
        incoming.off('end', onEnd);
        incoming.resume();
        reject(new BodyTooLargeError(`more than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks, size));
    incoming.on('data', onData);
    incoming.once('end', onEnd);
    incoming.once('error', reject);
  });
}
