import { Hono } from 'hono';
import { z } from 'zod';
import {
  CodecSchema,
  DEFAULT_PLAN_CODECS,
  ObjectiveSchema,
  rankCandidates,
  type BundleManifest,
  type PlanCandidate,
} from '@cleave/proto';
import { tokenOr400 } from './api-params.js';
import { bundleView, exitsMayAnswer } from './bundle-view.js';
import type { Principal } from './console-auth.js';
import type { ConsoleData } from './console-data.js';
import { createFleetRoutes } from './fleet/fleet-routes.js';

/** Variables the auth middleware puts on every API request. */
export type ConsoleEnv = { Variables: { principal: Principal } };

const codecsSchema = z.array(CodecSchema).min(1);

/**
 * Turns a manifest's candidates into the shared cost model's inputs, as the edge agent does: request and reply
 * bytes, and no exit rate where no exit may answer (a task without a confidence, or several final outputs).
 */
export function planCandidatesFromManifest(manifest: BundleManifest): PlanCandidate[] {
  const exitsAnswer = exitsMayAnswer(manifest);
  return manifest.candidates.map((c) => ({
    id: c.id,
    kind: c.kind,
    bytesPerSample: c.bytesPerSample,
    edgeMs: c.kind === 'cloud-only' ? 0 : (c.profile.edge?.medianMs ?? 0),
    cloudMs: c.kind === 'edge-only' ? 0 : (c.profile.cloud?.medianMs ?? 0),
    exitRate: exitsAnswer ? (c.exitRate ?? 0) : 0,
    ...(c.kind === 'split' && c.profile.edgeTail !== undefined ? { edgeTailMs: c.profile.edgeTail.medianMs } : {}),
    ...(c.profile.encodeMs === undefined ? {} : { encodeMs: c.profile.encodeMs }),
    ...(c.replyBytesPerSample === undefined ? {} : { replyBytesPerSample: c.replyBytesPerSample }),
  }));
}

/** The console's JSON API. Everything the page does goes through these routes. */
export function createConsoleApi(data: ConsoleData, options: { eventIntervalMs?: number } = {}): Hono<ConsoleEnv> {
  const api = new Hono<ConsoleEnv>();

  api.get('/cloud', async (c) => c.json({ replicas: await data.cloud() }));
  api.get('/bundles', async (c) => c.json({ models: await data.bundles() }));

  api.get('/bundles/:model/:version', async (c) => {
    const model = tokenOr400(c.req.param('model'), 'model');
    const version = tokenOr400(c.req.param('version'), 'version');
    if (model instanceof Response) return model;
    if (version instanceof Response) return version;
    return c.json(await data.manifest(model, version));
  });

  // The model view: task, final outputs, how the exit curve reads (or why there is none), candidate sizes.
  api.get('/bundles/:model/:version/view', async (c) => {
    const model = tokenOr400(c.req.param('model'), 'model');
    const version = tokenOr400(c.req.param('version'), 'version');
    if (model instanceof Response) return model;
    if (version instanceof Response) return version;
    const { manifest, integrity } = await data.integrity(model, version);
    return c.json({ ...bundleView(manifest, data.trustedPublishers), integrity });
  });

  // Expected cost of every candidate at one bandwidth: the data behind the split-point chart.
  api.get('/bundles/:model/:version/costs', async (c) => {
    const query = z
      .object({
        mbps: z.coerce.number().positive().max(1e6),
        objective: ObjectiveSchema.default('latency'),
        rttMs: z.coerce.number().min(0).max(10_000).optional(),
        codecs: z
          .string()
          .default(DEFAULT_PLAN_CODECS.join(','))
          .transform((s) => s.split(','))
          .pipe(codecsSchema),
      })
      .safeParse(c.req.query());
    if (!query.success)
      return c.json({ error: 'bad query', fieldErrors: z.flattenError(query.error).fieldErrors }, 400);
    const model = tokenOr400(c.req.param('model'), 'model');
    const version = tokenOr400(c.req.param('version'), 'version');
    if (model instanceof Response) return model;
    if (version instanceof Response) return version;
    const manifest = await data.manifest(model, version);
    const { mbps, objective, codecs } = query.data;
    const costs = rankCandidates(planCandidatesFromManifest(manifest), mbps, objective, {
      rttMs: query.data.rttMs ?? manifest.plan.rttMs,
      maxPayloadBytes: manifest.plan.maxPayloadBytes,
      codecs,
      ...(manifest.plan.downlinkRatio === undefined ? {} : { downlinkRatio: manifest.plan.downlinkRatio }),
    });
    // One bar per candidate: its best codec.
    const seen = new Set<string>();
    const bars = costs.filter((x) => !seen.has(x.candidate) && seen.add(x.candidate));
    return c.json({
      mbps,
      objective,
      downlinkRatio: manifest.plan.downlinkRatio ?? 1,
      best: bars[0]?.candidate ?? null,
      bars,
    });
  });

  // What agents run of this version now (from their latest heartbeats): the split chart marks the candidates in
  // use and the exit curve plots each agent's live exit rate at its operating point.
  api.get('/bundles/:model/:version/usage', async (c) => {
    const model = tokenOr400(c.req.param('model'), 'model');
    const version = tokenOr400(c.req.param('version'), 'version');
    if (model instanceof Response) return model;
    if (version instanceof Response) return version;
    const agents = (await data.fleet()).flatMap((a) =>
      a.stale
        ? []
        : a.heartbeat.models
            .filter((m) => m.model === model && m.version === version)
            .map((m) => ({
              agentId: a.agentId,
              split: m.split,
              codec: m.codec,
              tailOn: m.tailOn ?? 'cloud',
              requests: m.requests,
              exitRate: m.requests > 0 ? m.exitRate : null,
              budgetPoints: m.budgetPoints ?? null,
              expectedAccuracy: m.expectedAccuracy ?? null,
            })),
    );
    return c.json({ model, version, agents });
  });

  api.put('/models/:model/current', async (c) => {
    const model = tokenOr400(c.req.param('model'), 'model');
    if (model instanceof Response) return model;
    const body = z
      .object({ version: z.string().min(1) })
      .strict()
      .safeParse(await c.req.json().catch(() => undefined));
    if (!body.success)
      return c.json({ error: 'invalid body', fieldErrors: z.flattenError(body.error).fieldErrors }, 400);
    const version = tokenOr400(body.data.version, 'version');
    if (version instanceof Response) return version;
    const before = (await data.bundles()).find((m) => m.model === model)?.current;
    await data.setCurrent(model, version);
    await data.record({
      who: c.var.principal.name,
      action: 'set-current',
      target: model,
      detail: { from: before ?? null, to: version },
    });
    return c.json({ model, current: version, previous: before ?? null });
  });

  api.get('/audit', async (c) => c.json({ entries: await data.audit(100) }));

  // GET /fleet and the live stream GET /events.
  api.route('/', createFleetRoutes(data, options));

  return api;
}
