// Pure paging of the fleet: one page of agents (sorted and filtered on the server, so the page never needs the whole
// fleet) and a summary of the whole fleet, small however many agents there are.
import { z } from 'zod';
import type { FleetAgent } from '../console-data.js';

/** Columns the fleet table sorts by. Per-model columns read the agent's first model (the table's first row of it). */
export const FLEET_SORT_KEYS = [
  'agentId',
  'model',
  'split',
  'codec',
  'bandwidthMbps',
  'rttMs',
  'battery',
  'exitRate',
  'p50Ms',
  'offloads',
  'fallbacks',
  'stale',
] as const;
/** A column of {@link FLEET_SORT_KEYS}. */
export type FleetSortKey = (typeof FLEET_SORT_KEYS)[number];

/** Most agents one page may hold: a page is what a browser renders at once. */
export const MAX_FLEET_PAGE = 500;

/** `?offset=&limit=&sort=&filter=` of GET /api/fleet and /api/events. `sort` is a column, `-column` for descending. */
export const FleetQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_FLEET_PAGE).default(100),
  sort: z
    .string()
    .default('agentId')
    .transform((s) => ({ key: s.replace(/^-/, ''), descending: s.startsWith('-') }))
    .pipe(z.object({ key: z.enum(FLEET_SORT_KEYS), descending: z.boolean() })),
  filter: z.string().max(200).default(''),
});
/** A validated fleet query. */
export type FleetQuery = z.output<typeof FleetQuerySchema>;

/** The whole fleet in counts: what the page shows above the table, whichever page it is on. */
export interface FleetSummary {
  readonly agents: number;
  readonly stale: number;
  readonly spoofed: number;
  /** Agents that sent at least one request to the cloud in their last interval. */
  readonly offloading: number;
  /** Agents whose last heartbeat carries an error. */
  readonly withErrors: number;
  /** Agents on battery below 20 % and not charging. */
  readonly lowBattery: number;
  /** Agents running each `model@version`. */
  readonly models: Readonly<Record<string, number>>;
}

/** One page of the fleet. */
export interface FleetPage {
  /** Agents matching the filter (the page is a slice of them). */
  readonly total: number;
  readonly offset: number;
  readonly agents: FleetAgent[];
  readonly summary: FleetSummary;
}

type SortValue = string | number | boolean | undefined;

function sortValue(agent: FleetAgent, key: FleetSortKey): SortValue {
  const hb = agent.heartbeat;
  const m = hb.models[0];
  switch (key) {
    case 'agentId':
      return agent.agentId;
    case 'model':
      return m ? `${m.model}@${m.version}` : undefined;
    case 'split':
    case 'codec':
    case 'p50Ms':
    case 'offloads':
    case 'fallbacks':
      return m?.[key];
    case 'exitRate':
      // An idle interval has no exit rate, which is not 0 %.
      return m && m.requests > 0 ? m.exitRate : undefined;
    case 'battery':
      return hb.battery?.level;
    case 'stale':
      return agent.stale;
    default:
      return hb[key];
  }
}

/** Ascending order with missing values last; ties broken by agent id, so a page boundary never moves on a tie. */
function compareBy(key: FleetSortKey, descending: boolean): (a: FleetAgent, b: FleetAgent) => number {
  const sign = descending ? -1 : 1;
  return (a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x !== y) {
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      return (x < y ? -1 : 1) * sign;
    }
    return a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0;
  };
}

/** The text a filter matches: ids, models, splits, codecs, objective, the error, and the words stale/spoofed. */
function searchText(agent: FleetAgent): string {
  const hb = agent.heartbeat;
  return [
    agent.agentId,
    agent.claimedAgentId ?? '',
    agent.stale ? 'stale' : '',
    agent.spoofed ? 'spoofed' : '',
    hb.breaker ?? '',
    hb.lastError ?? '',
    ...hb.models.map((m) => `${m.model}@${m.version} ${m.split} ${m.codec} ${m.objective ?? ''}`),
  ]
    .join(' ')
    .toLowerCase();
}

/** Counts over every agent (not only the page). */
export function summarizeFleet(agents: readonly FleetAgent[]): FleetSummary {
  const models: Record<string, number> = {};
  let stale = 0;
  let spoofed = 0;
  let offloading = 0;
  let withErrors = 0;
  let lowBattery = 0;
  for (const a of agents) {
    const hb = a.heartbeat;
    if (a.stale) stale += 1;
    if (a.spoofed) spoofed += 1;
    if (hb.models.some((m) => m.offloads > 0)) offloading += 1;
    if (hb.lastError) withErrors += 1;
    if (hb.battery && hb.battery.level < 0.2 && !hb.battery.charging) lowBattery += 1;
    for (const m of hb.models) {
      const key = `${m.model}@${m.version}`;
      models[key] = (models[key] ?? 0) + 1;
    }
  }
  return { agents: agents.length, stale, spoofed, offloading, withErrors, lowBattery, models };
}

/**
 * An agent as a fleet page carries it: without each model's switch history, which the table never shows and which
 * was a third of a page's bytes (the agent page reads it from `/api/agents/:id`).
 */
function pageRow(agent: FleetAgent): FleetAgent {
  const models = agent.heartbeat.models.map(({ switches: _switches, ...m }) => m);
  return { ...agent, heartbeat: { ...agent.heartbeat, models } };
}

/** The page `query` asks for out of `agents` (any order), with the summary of all of them. */
export function pageFleet(agents: readonly FleetAgent[], query: FleetQuery): FleetPage {
  const needle = query.filter.trim().toLowerCase();
  const matching = needle ? agents.filter((a) => searchText(a).includes(needle)) : [...agents];
  matching.sort(compareBy(query.sort.key, query.sort.descending));
  return {
    total: matching.length,
    offset: query.offset,
    agents: matching.slice(query.offset, query.offset + query.limit).map(pageRow),
    summary: summarizeFleet(agents),
  };
}
