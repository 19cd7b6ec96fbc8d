// Policy routes under `/api`: read every policy document, set the fleet's or one agent's, and clear one (the agents
// then follow the next level down: an agent's own document, else the fleet's, else its configuration). Every write
// is validated in full (all problems listed by field) and recorded in the audit log.
import { Hono } from 'hono';
import { validateAgentPolicy } from '@cleave/proto';
import { tokenOr400 } from './api-params.js';
import type { ConsoleEnv } from './console-api.js';
import type { ConsoleData } from './console-data.js';

type Scope = 'fleet' | 'agent';
const path = (scope: Scope) => (scope === 'fleet' ? '/policies/fleet' : '/policies/agents/:agentId');

/** `{}` for the fleet, `{ agentId }` for an agent, or a 400 when the agent id is not a token. */
function scopeOf(scope: Scope, agentId: string | undefined): { agentId?: string } | Response {
  if (scope === 'fleet') return {};
  const checked = tokenOr400(agentId ?? '', 'agentId');
  return checked instanceof Response ? checked : { agentId: checked };
}

/** `GET /policies`, `PUT` and `DELETE` on `/policies/fleet` and `/policies/agents/:agentId`. */
export function createPolicyRoutes(data: ConsoleData): Hono<ConsoleEnv> {
  const routes = new Hono<ConsoleEnv>();
  routes.get('/policies', async (c) => c.json(await data.policies()));

  for (const scope of ['fleet', 'agent'] as const) {
    routes.put(path(scope), async (c) => {
      const target = scopeOf(scope, c.req.param('agentId'));
      if (target instanceof Response) return target;
      const body: unknown = await c.req.json().catch(() => Symbol.for('invalid'));
      if (typeof body === 'symbol')
        return c.json({ error: 'body must be JSON', fieldErrors: { '(body)': ['not JSON'] } }, 400);
      const result = validateAgentPolicy(body);
      if (!result.ok) return c.json({ error: 'invalid policy', fieldErrors: result.fieldErrors }, 400);
      await data.putPolicy(target, result.policy);
      await data.record({
        who: c.var.principal.name,
        action: 'set-policy',
        target: target.agentId ? `agent ${target.agentId}` : 'fleet',
        detail: result.policy,
      });
      return c.json({ scope: target.agentId ? { agentId: target.agentId } : 'fleet', policy: result.policy });
    });

    routes.delete(path(scope), async (c) => {
      const target = scopeOf(scope, c.req.param('agentId'));
      if (target instanceof Response) return target;
      await data.deletePolicy(target);
      await data.record({
        who: c.var.principal.name,
        action: 'clear-policy',
        target: target.agentId ? `agent ${target.agentId}` : 'fleet',
        detail: null,
      });
      return c.json({ scope: target.agentId ? { agentId: target.agentId } : 'fleet', policy: null });
    });
  }
  return routes;
}
