// The local inference API on NATS: `{prefix}.agent.{agentId}.infer.{model}`, for applications that already speak
// NATS (e.g. through a leaf node on the gateway). The body and reply are those of the HTTP API; the format follows
// the `content-type` header, or the first byte of the body ('{' means JSON).
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
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
    const format = formatFor(msg);
    let body: Uint8Array | string;
    try {
      if (msg.data.byteLength > deps.maxBodyBytes) {
        throw new EdgeAgentError(
          EdgeErrorCode.TooLarge,
          `the body is larger than the limit of ${deps.maxBodyBytes} bytes`,
        );
      }
      const request = parseInferBody(msg.data, format);
      const result = await deps.service.infer(model, request.inputs, {
        ...(request.deadlineMs === undefined ? {} : { deadlineMs: request.deadlineMs }),
        ...traceOf(msg),
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

function formatFor(msg: Msg): BodyFormat {
  const declared = msg.headers?.get('content-type');
  if (declared) return formatOf(declared);
  return msg.data[0] === 0x7b ? 'json' : 'msgpack';
}

function traceOf(msg: Msg): { traceparent?: string; tracestate?: string } {
  const traceparent = msg.headers?.get('traceparent');
  const tracestate = msg.headers?.get('tracestate');
  return { ...(traceparent ? { traceparent } : {}), ...(tracestate ? { tracestate } : {}) };
}
