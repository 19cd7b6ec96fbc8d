// A small client for applications on the gateway: `import { EdgeClient } from '@cleave/edge-agent/client'`.
// It speaks the local HTTP API (msgpack by default) and pulls in neither onnxruntime nor NATS.
import { Packr, Unpackr } from 'msgpackr';
import { arrayFromNumbers, CodedError, DTYPE_SPECS, type DtypeArray, type TensorDtype } from '@cleave/proto';
import { EdgeErrorCode } from '../edge-agent-error.js';

/** Element types of the local API: the wire dtypes. */
export type ClientDtype = TensorDtype;

/** Typed arrays the client sends and returns. */
export type ClientArray = DtypeArray;

/**
 * An input tensor: dims plus a typed array or plain values (numbers; bigints or decimal strings for int64; booleans
 * for bool). dtype defaults to the model input's.
 */
export interface ClientTensor {
  readonly dims: readonly number[];
  readonly data: ClientArray | readonly (number | bigint | string | boolean)[];
  readonly dtype?: ClientDtype;
}

/** An output tensor. */
export interface ClientOutput {
  readonly dtype: ClientDtype;
  readonly dims: number[];
  readonly data: ClientArray;
}

/** The answer to one request, as the agent reports it. */
export interface ClientResult {
  readonly id: string;
  readonly model: string;
  readonly version: string;
  readonly tailVersion: string | null;
  readonly split: string;
  readonly codec: string | null;
  readonly objective: string;
  readonly exit: string | null;
  readonly ranOn: 'edge' | 'cloud' | 'fallback';
  readonly fallbackReason: string | null;
  readonly outputs: Readonly<Record<string, ClientOutput>>;
  readonly timings: Readonly<Record<string, number>>;
  readonly bytes: { readonly sent: number; readonly received: number };
  readonly replica: string | null;
}

/** Options of {@link EdgeClient}. */
export interface EdgeClientOptions {
  /** @default 'http://127.0.0.1:8470' */
  readonly url?: string;
  /** @default 'msgpack' */
  readonly format?: 'msgpack' | 'json';
  /** Gives up on the HTTP call after this long. @default 30000 */
  readonly timeoutMs?: number;
}

/** Codes of an {@link EdgeClientError}: the agent's own {@link EdgeErrorCode}s, or HttpError when it named none. */
export const EdgeClientErrorCode = { ...EdgeErrorCode, HttpError: 'http_error' } as const;
/** One of {@link EdgeClientErrorCode}. */
export type EdgeClientErrorCode = (typeof EdgeClientErrorCode)[keyof typeof EdgeClientErrorCode];

/** A request the agent refused (4xx) or could not serve (5xx). */
export class EdgeClientError extends CodedError<EdgeClientErrorCode> {
  override readonly name = 'EdgeClientError';
  constructor(
    code: EdgeClientErrorCode,
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true });
const MSGPACK = 'application/msgpack';

/** Client of one agent's local HTTP API. */
export class EdgeClient {
  readonly url: string;
  readonly format: 'msgpack' | 'json';
  readonly timeoutMs: number;

  constructor(options: EdgeClientOptions = {}) {
    this.url = (options.url ?? 'http://127.0.0.1:8470').replace(/\/+$/, '');
    this.format = options.format ?? 'msgpack';
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** Runs `model` on `inputs`. Throws EdgeClientError with the agent's code and message when refused. */
  async infer(
    model: string,
    inputs: Readonly<Record<string, ClientTensor>>,
    options: { deadlineMs?: number; traceparent?: string } = {},
  ): Promise<ClientResult> {
    const msgpack = this.format === 'msgpack';
    const body = {
      inputs: Object.fromEntries(
        Object.entries(inputs).map(([name, t]) => [
          name,
          {
            dims: [...t.dims],
            ...(t.dtype ? { dtype: t.dtype } : {}),
            data: msgpack ? asBytes(t.data) : asJsonValues(t.data),
          },
        ]),
      ),
      ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
    };
    const type = msgpack ? MSGPACK : 'application/json';
    const response = await fetch(`${this.url}/v1/models/${encodeURIComponent(model)}/infer`, {
      method: 'POST',
      headers: {
        'content-type': type,
        accept: type,
        ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
      },
      body: msgpack ? packr.pack(body) : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const reply = (
      response.headers.get('content-type')?.startsWith(MSGPACK)
        ? unpackr.unpack(bytes)
        : JSON.parse(new TextDecoder().decode(bytes))
    ) as Record<string, unknown>;
    if (!response.ok) {
      // The code is passed on as the agent sent it (an agent of another version may send one not listed here).
      const error = (reply['error'] ?? {}) as { code?: EdgeClientErrorCode; message?: string };
      const code = error.code ?? EdgeClientErrorCode.HttpError;
      throw new EdgeClientError(code, response.status, error.message ?? response.statusText);
    }
    const outputs = reply['outputs'] as Record<string, { dtype: ClientDtype; dims: number[]; data: unknown }>;
    return {
      ...(reply as unknown as ClientResult),
      outputs: Object.fromEntries(
        Object.entries(outputs).map(([name, o]) => [
          name,
          { dtype: o.dtype, dims: o.dims, data: toTyped(o.dtype, o.data) },
        ]),
      ),
    };
  }

  /** The agent's `/v1/status` document. */
  async status(): Promise<unknown> {
    const response = await fetch(`${this.url}/v1/status`, { signal: AbortSignal.timeout(this.timeoutMs) });
    return response.json();
  }

  /** True when `/readyz` answers 200. */
  async ready(): Promise<boolean> {
    try {
      const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(this.timeoutMs) });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  }
}

type ClientValues = ClientTensor['data'];

function asBytes(data: ClientValues): Uint8Array | readonly unknown[] {
  if (Array.isArray(data)) return asJsonValues(data);
  const typed = data as ClientArray;
  if (!littleEndianHost) throw new Error('msgpack bodies need a little-endian host; use format "json"');
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

// Plain values the agent reads in JSON and msgpack alike: bigints as numbers when exact, else decimal strings.
function asJsonValues(data: ClientValues): unknown[] {
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  return Array.from(data as ArrayLike<number | bigint | string | boolean>, (v) =>
    typeof v === 'bigint' ? (v >= -safe && v <= safe ? Number(v) : v.toString()) : v,
  );
}

function toTyped(dtype: ClientDtype, data: unknown): ClientArray {
  // Copied: a bin inside a msgpack body is rarely aligned for a wider element type.
  if (data instanceof Uint8Array) return new DTYPE_SPECS[dtype].array(data.slice().buffer);
  // JSON: int64 values beyond 2^53 come as decimal strings, bools as true/false.
  const values = (data as unknown[]).map((v) =>
    typeof v === 'string' ? BigInt(v) : typeof v === 'boolean' ? (v ? 1 : 0) : (v as number),
  );
  return arrayFromNumbers(dtype, values);
}

const littleEndianHost = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
