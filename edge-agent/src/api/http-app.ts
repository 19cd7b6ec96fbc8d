// The local HTTP API (Hono). Bound to 127.0.0.1 by default: it is for applications on the same gateway.
//   POST /v1/models/:id/infer   JSON or msgpack tensors → outputs, exit, split, where the rest ran, timings
//   GET  /v1/models/:id         the model's current decision and counters
//   GET  /v1/status             the whole agent
//   GET  /livez, /readyz        probes for systemd, Kubernetes or a watchdog
//   GET  /metrics               Prometheus text, when the cli enabled metrics
import { Hono } from 'hono';
import { addProbeRoutes } from '@cleave/node-runtime';
import type { InferService } from '../agent-types.js';
import { EdgeAgentError, EdgeErrorCode, isEdgeAgentError } from '../edge-agent-error.js';
import {
  type BodyFormat,
  formatOf,
  MSGPACK_CONTENT_TYPE,
  parseInferBody,
  serializeError,
  serializeResult,
} from './infer-body.js';
import { BodyTooLargeError, readBody } from './request-body.js';

/** What the HTTP app needs. */
export interface HttpAppDeps {
  readonly service: InferService;
  readonly maxBodyBytes: number;
  /** Renders Prometheus metrics; /metrics answers 404 without it. */
  readonly metrics?: () => Promise<string>;
  /** Told about every refused request (for counters), with its code. */
  readonly onRefused?: (error: EdgeAgentError) => void;
}

/** Builds the app; test it with `app.request(...)`, serve it with `startHttpServer` from @cleave/node-runtime. */
export function createHttpApp(deps: HttpAppDeps): Hono {
  const { service } = deps;
  const app = new Hono();

  const reply = (error: EdgeAgentError, format: BodyFormat): Response => {
    deps.onRefused?.(error);
    const body = serializeError(error, format);
    return new Response(body, { status: error.status, headers: { 'content-type': contentType(format) } });
  };

  app.post('/v1/models/:id/infer', async (c) => {
    const requestFormat = formatOf(c.req.header('content-type'));
    const accept = c.req.header('accept');
    const replyFormat = accept !== undefined && /msgpack|json/i.test(accept) ? formatOf(accept) : requestFormat;
    try {
      const body = parseInferBody(await readBody(c, deps.maxBodyBytes), requestFormat);
      const traceparent = c.req.header('traceparent');
      const tracestate = c.req.header('tracestate');
      const result = await service.infer(c.req.param('id'), body.inputs, {
        ...(body.deadlineMs === undefined ? {} : { deadlineMs: body.deadlineMs }),
        ...(traceparent === undefined ? {} : { traceparent }),
        ...(tracestate === undefined ? {} : { tracestate }),
      });
      return new Response(serializeResult(result, replyFormat), {
        status: 200,
        headers: { 'content-type': contentType(replyFormat) },
      });
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        const message = `the body is larger than the limit of ${deps.maxBodyBytes} bytes`;
        return reply(new EdgeAgentError(EdgeErrorCode.TooLarge, message), replyFormat);
      }
      return reply(asEdgeError(error), replyFormat);
    }
  });

  app.get('/v1/models/:id', (c) => {
    const status = service.modelStatus(c.req.param('id'));
    if (status === undefined) {
      return reply(
        new EdgeAgentError(EdgeErrorCode.UnknownModel, `model "${c.req.param('id')}" is not served here`),
        'json',
      );
    }
    return c.json(status);
  });
  app.get('/v1/status', (c) => c.json(service.status()));
  addProbeRoutes(app, {
    health: () => service.health(),
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
  app.notFound((c) =>
    c.json(
      {
        error: {
          code: 'not_found',
          status: 404,
          message: 'try POST /v1/models/<id>/infer, GET /v1/status, /livez, /readyz',
        },
      },
      404,
    ),
  );
  app.onError((error) => reply(asEdgeError(error), 'json'));
  return app;
}

/** Anything thrown while serving, as the error the caller sees; unknown faults become `internal`. */
export function asEdgeError(error: unknown): EdgeAgentError {
  if (isEdgeAgentError(error)) return error;
  return new EdgeAgentError(EdgeErrorCode.Internal, `internal error: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
  });
}

function contentType(format: BodyFormat): string {
  return format === 'json' ? 'application/json' : MSGPACK_CONTENT_TYPE;
}
