// GET /api/fleet (one page and the whole fleet's summary) and GET /api/events (the live stream: that page once,
// then only its changes, and the cloud replicas when they change).
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { ConsoleEnv } from '../console-api.js';
import type { ConsoleData } from '../console-data.js';
import { createFleetDeltaTracker } from './fleet-delta.js';
import { FleetQuerySchema, pageFleet } from './fleet-page.js';

/** The fleet's routes, mounted under /api. */
export function createFleetRoutes(data: ConsoleData, options: { eventIntervalMs?: number } = {}): Hono<ConsoleEnv> {
  const api = new Hono<ConsoleEnv>();
  const badQuery = (error: z.ZodError) =>
    Response.json({ error: 'bad query', fieldErrors: z.flattenError(error).fieldErrors }, { status: 400 });

  api.get('/fleet', async (c) => {
    const query = FleetQuerySchema.safeParse(c.req.query());
    if (!query.success) return badQuery(query.error);
    const started = performance.now();
    const page = JSON.stringify(pageFleet(await data.fleet(), query.data));
    // What the answer cost the console, apart from the network and the client (the fleet-scale bench reads it).
    c.header('server-timing', `fleet;dur=${(performance.now() - started).toFixed(2)}`);
    return c.body(page, 200, { 'content-type': 'application/json' });
  });

  api.get('/events', (c) => {
    const query = FleetQuerySchema.safeParse(c.req.query());
    if (!query.success) return badQuery(query.error);
    return streamSSE(c, async (stream) => {
      const tracker = createFleetDeltaTracker();
      let replicas = '';
      let id = 0;
      while (!stream.aborted && !stream.closed) {
        // The fleet first: it is read from memory, while asking the replicas waits for their replies.
        const update = tracker.next(pageFleet(await data.fleet(), query.data));
        if (update?.kind === 'snapshot') {
          await stream.writeSSE({ event: 'snapshot', id: String(id++), data: JSON.stringify(update.page) });
        } else if (update) {
          await stream.writeSSE({ event: 'delta', id: String(id++), data: JSON.stringify(update) });
        }
        const cloud = JSON.stringify({ replicas: await data.cloud() });
        if (cloud !== replicas) await stream.writeSSE({ event: 'replicas', id: String(id++), data: cloud });
        replicas = cloud;
        await stream.sleep(options.eventIntervalMs ?? 2000);
      }
    });
  });

  return api;
}
