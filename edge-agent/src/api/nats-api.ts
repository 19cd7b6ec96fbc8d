// The local inference API on NATS: `{prefix}.agent.{agentId}.infer.{model}`, for applications that already speak
// NATS (e.g. through a leaf node on the gateway). The body and reply are those of the HTTP API; the format follows
// the `content-type` header, or the first byte of the body ('{' means JSON).
import type { Msg, MsgHdrs, NatsConnection, Subscription } from '@nats-io/transport-node';
import { agentInferSubject } from '@cleave/proto';
import type { InferService } from '../agent-types.js';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import { asEdgeError } from './http-app.js';
import { type BodyFormat, formatOf, parseInferBody, serializeError, serializeResult } from './infer-body.js';

/** What {@link serveNatsApi} needs. */
export interface NatsApiDeps {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly agentId: string;
  readonly models: readonly string[];
  readonly service: InferService;
  readonly maxBodyBytes: number;
  readonly onRefused?: (error: EdgeAgentError) => void;
}

/** The subscriptions of the NATS API. */
export interface NatsApi {
  /** Stops taking requests; those in progress still get their reply. */
  stop(): Promise<void>;
}

/** Subscribes one subject per model. */
export function serveNatsApi(deps: NatsApiDeps): NatsApi {
  const subscriptions: Subscription[] = deps.models.map((model) =>
    deps.nc.subscribe(agentInferSubject(deps.prefix, deps.agentId, model), {
      callback: (_error, msg) => void handle(model, msg),
    }),
  );

  async function handle(model: string, msg: Msg): Promise<void> {
    if (!msg.reply) return;
    let body: Uint8Array | string;
    // nats.js parses headers on first access and throws on a name it finds invalid (a space, a control or a
    // non-ASCII byte): read them once, inside the try, so that such a request gets a `bad_body` reply too.
    let format = sniffFormat(msg.data);
    try {
      const headers = readHeaders(msg);
      format = formatFor(headers, msg.data);
      if (msg.data.byteLength > deps.maxBodyBytes) {
        throw new EdgeAgentError(
          EdgeErrorCode.TooLarge,
          `the body is larger than the limit of ${deps.maxBodyBytes} bytes`,
        );
      }
      const request = parseInferBody(msg.data, format);
      const result = await deps.service.infer(model, request.inputs, {
        ...(request.deadlineMs === undefined ? {} : { deadlineMs: request.deadlineMs }),
        ...traceOf(headers),
      });
      body = serializeResult(result, format);
    } catch (error) {
      const refused = asEdgeError(error);
      deps.onRefused?.(refused);
      body = serializeError(refused, format);
    }
    try {
      msg.respond(body);
    } catch {
      // the connection is closing; the caller times out
    }
  }

  return {
    async stop() {
      await Promise.allSettled(subscriptions.map((s) => s.drain()));
    },
  };
}

function readHeaders(msg: Msg): MsgHdrs | undefined {
  try {
    return msg.headers;
  } catch (error) {
    throw new EdgeAgentError(
      EdgeErrorCode.BadBody,
      `the request's NATS headers are malformed: ${(error as Error).message}`,
    );
  }
}

function formatFor(headers: MsgHdrs | undefined, data: Uint8Array): BodyFormat {
  const declared = headers?.get('content-type');
  return declared ? formatOf(declared) : sniffFormat(data);
}

function sniffFormat(data: Uint8Array): BodyFormat {
  return data[0] === 0x7b ? 'json' : 'msgpack';
}

function traceOf(headers: MsgHdrs | undefined): { traceparent?: string; tracestate?: string } {
  const traceparent = headers?.get('traceparent');
  const tracestate = headers?.get('tracestate');
  return { ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) };
}
