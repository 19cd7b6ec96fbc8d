// The rollout API: progress per model, a promotion in two steps (a preview with each agent's download and the
// manifest diff, then a confirm that only applies if the current version is still the one previewed), and a
// cancel that puts the previous version back (agents then cancel their download of the abandoned one).
import { Hono } from 'hono';
import { z } from 'zod';
import { assertToken, type BundleManifest } from '@cleave/proto';
import type { ConsoleData } from '../console-data.js';
import type { ConsoleEnv } from '../console-api.js';
import { diffManifests, estimateAgentDownload } from './promotion-preview.js';
import { rolloutStatus } from './rollout-status.js';

/** A path or body token checked as a subject token, or a 400 naming the field. */
function checkToken(value: string, field: string): { ok: true; value: string } | { ok: false; error: Response } {
  try {
    return { ok: true, value: assertToken(value, field) };
  } catch (error) {
    const message = (error as Error).message;
    return {
      ok: false,
      error: Response.json({ error: message, fieldErrors: { [field]: [message] } }, { status: 400 }),
    };
  }
}

const confirmSchema = z
  .object({
    version: z.string().min(1),
    /** The current version the preview showed; null when the model had none. */
    expectedCurrent: z.string().min(1).nullable(),
  })
  .strict();

const cancelSchema = z.object({ expectedCurrent: z.string().min(1).optional() }).strict();

/** The previous distinct version in a key's history (oldest first), before its last value. */
export function previousVersion(history: readonly string[]): string | undefined {
  const last = history.at(-1);
  for (let i = history.length - 2; i >= 0; i--) if (history[i] !== last) return history[i];
  return undefined;
}

/** Routes under `/api`: `/rollouts`, `/models/:model/promotion` (GET preview, POST confirm), `/models/:model/rollout/cancel`. */
export function createRolloutRoutes(data: ConsoleData): Hono<ConsoleEnv> {
  const routes = new Hono<ConsoleEnv>();
  const currentOf = async (model: string) => (await data.bundles()).find((m) => m.model === model)?.current;

  routes.get('/rollouts', async (c) => {
    const [models, fleet] = await Promise.all([data.bundles(), data.fleet()]);
    return c.json({ rollouts: rolloutStatus(models, fleet) });
  });

  routes.get('/models/:model/promotion', async (c) => {
    const model = checkToken(c.req.param('model'), 'model');
    if (!model.ok) return model.error;
    const version = checkToken(c.req.query('version') ?? '', 'version');
    if (!version.ok) return version.error;
    const [target, from, fleet] = await Promise.all([
      data.manifest(model.value, version.value),
      currentOf(model.value),
      data.fleet(),
    ]);
    // Each distinct version the agents hold is read once; one the store no longer has counts as nothing cached.
    const held = new Map<string, Promise<BundleManifest | undefined>>();
    const manifestOf = (v: string) => {
      if (!held.has(v))
        held.set(
          v,
          data.manifest(model.value, v).catch(() => undefined),
        );
      return held.get(v)!;
    };
    const current = from === undefined ? undefined : await manifestOf(from);
    const agents = [];
    for (const agent of fleet) {
      const serving = agent.heartbeat.models.find((m) => m.model === model.value);
      if (serving === undefined) continue;
      const heldManifest = await manifestOf(serving.version);
      const estimate = estimateAgentDownload(target, heldManifest, serving.split);
      agents.push({
        agentId: agent.agentId,
        heldVersion: serving.version,
        heldKnown: heldManifest !== undefined,
        split: serving.split,
        stale: agent.stale,
        ...estimate,
      });
    }
    return c.json({
      model: model.value,
      from: from ?? null,
      to: version.value,
      diff: diffManifests(current, target),
      agents,
      totalBytes: agents.reduce((sum, a) => sum + a.bytes, 0),
      confirm: { version: version.value, expectedCurrent: from ?? null },
    });
  });

  routes.post('/models/:model/promotion', async (c) => {
    const model = checkToken(c.req.param('model'), 'model');
    if (!model.ok) return model.error;
    const body = confirmSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success)
      return c.json({ error: 'invalid body', fieldErrors: z.flattenError(body.error).fieldErrors }, 400);
    const version = checkToken(body.data.version, 'version');
    if (!version.ok) return version.error;
    const before = (await currentOf(model.value)) ?? null;
    // Someone else promoted or rolled back since the preview: its bytes and diff no longer describe this change.
    if (before !== body.data.expectedCurrent) {
      return c.json(
        {
          error: `current version of ${model.value} is now ${before ?? 'none'}, not ${body.data.expectedCurrent ?? 'none'}: preview again`,
        },
        409,
      );
    }
    await data.setCurrent(model.value, version.value);
    await data.record({
      who: c.var.principal.name,
      action: 'promote',
      target: model.value,
      detail: { from: before, to: version.value },
    });
    return c.json({ model: model.value, current: version.value, previous: before });
  });

  routes.post('/models/:model/rollout/cancel', async (c) => {
    const model = checkToken(c.req.param('model'), 'model');
    if (!model.ok) return model.error;
    const body = cancelSchema.safeParse((await c.req.json().catch(() => ({}))) ?? {});
    if (!body.success)
      return c.json({ error: 'invalid body', fieldErrors: z.flattenError(body.error).fieldErrors }, 400);
    const history = await data.currentHistory(model.value);
    const cancelled = history.at(-1);
    if (cancelled === undefined) return c.json({ error: `${model.value} has no current version` }, 404);
    if (body.data.expectedCurrent !== undefined && body.data.expectedCurrent !== cancelled) {
      return c.json(
        { error: `current version of ${model.value} is now ${cancelled}, not ${body.data.expectedCurrent}` },
        409,
      );
    }
    const previous = previousVersion(history);
    if (previous === undefined) {
      return c.json({ error: `${model.value} has no earlier current version to go back to` }, 409);
    }
    await data.setCurrent(model.value, previous);
    await data.record({
      who: c.var.principal.name,
      action: 'cancel-rollout',
      target: model.value,
      detail: { cancelled, current: previous },
    });
    return c.json({ model: model.value, current: previous, cancelled });
  });

  return routes;
}
