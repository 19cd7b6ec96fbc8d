// The per-agent routes: the page (`/agents/:agentId`), the agent's latest heartbeat (`/api/agents/:agentId`) and its
// history as a time series (`/api/agents/:agentId/history?minutes=N&model=M`). Every parameter is validated first:
// an agent id that is not a subject token is a 400 naming the field, never a NATS error.
import type { Context } from 'hono';
import { Hono } from 'hono';
import { z } from 'zod';
import { isValidToken } from '@cleave/proto';
import type { ConsoleEnv } from '../console-api.js';
import type { ConsoleData } from '../console-data.js';
import { agentPage } from './agent-page.js';
import { buildHeartbeatSeries } from './heartbeat-series.js';

const TOKEN_RULE = 'must be a subject token: 1-128 characters of A-Z a-z 0-9 _ -';
const token = z.string().refine(isValidToken, { message: TOKEN_RULE });

/** Longest window: the history keeps a day. */
export const MAX_HISTORY_MINUTES = 24 * 60;

const HistoryParams = z.object({
  agentId: token,
  minutes: z.coerce.number().int().min(1).max(MAX_HISTORY_MINUTES).default(15),
  model: token.optional(),
});

/** The parsed parameters, or a 400 listing every field's problem. */
function parse<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> | Response {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  return Response.json(
    { error: 'invalid parameters', fieldErrors: z.flattenError(result.error).fieldErrors },
    { status: 400 },
  );
}

/**
 * `GET /agents/:agentId` (the page) and, under `/api`, the agent's latest heartbeat and its history. `csrfFor`
 * gives the page shell the CSRF token of the request's session, as the main page has.
 */
export function createAgentRoutes(
  data: ConsoleData,
  csrfFor: (c: Context<ConsoleEnv>) => string,
  now: () => number = Date.now,
): Hono<ConsoleEnv> {
  const routes = new Hono<ConsoleEnv>();

  routes.get('/agents/:agentId', (c) => {
    const params = parse(HistoryParams.pick({ agentId: true }), c.req.param());
    if (params instanceof Response) return params;
    return c.html(agentPage({ agentId: params.agentId, csrfToken: csrfFor(c), operator: c.var.principal.name }));
  });

  routes.get('/api/agents/:agentId', async (c) => {
    const params = parse(HistoryParams.pick({ agentId: true }), c.req.param());
    if (params instanceof Response) return params;
    const agent = await data.agent(params.agentId);
    if (!agent) return c.json({ error: `no heartbeat from agent ${params.agentId}` }, 404);
    const { heartbeat } = agent;
    return c.json({
      ...agent,
      breaker: heartbeat.breaker ?? null,
      // The decision per model, with the controller's reason and its latest switches (oldest first).
      decisions: heartbeat.models.map((m) => ({
        model: m.model,
        version: m.version,
        split: m.split,
        tailOn: m.tailOn ?? 'cloud',
        codec: m.codec,
        objective: m.objective ?? null,
        budgetPoints: m.budgetPoints ?? null,
        expectedAccuracy: m.expectedAccuracy ?? null,
        reason: m.reason ?? null,
        switches: m.switches ?? [],
      })),
    });
  });

  routes.get('/api/agents/:agentId/history', async (c) => {
    const params = parse(HistoryParams, { ...c.req.query(), ...c.req.param() });
    if (params instanceof Response) return params;
    const from = now() - params.minutes * 60_000;
    const beats = await data.heartbeatHistory(params.agentId, from);
    // Beats carry the NATS server's time: a console clock behind it must not cut off the newest ones.
    const to = Math.max(now(), beats.at(-1)?.t ?? 0);
    const series = buildHeartbeatSeries(beats, { from, to }, params.model === undefined ? {} : { model: params.model });
    return c.json({ agentId: params.agentId, minutes: params.minutes, from, to, ...series });
  });
  return routes;
}
