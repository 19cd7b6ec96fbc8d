// Pure change tracking for one live-stream client: the first page goes out whole, later ticks send only what
// changed on that page, so the stream's bytes follow the page size and the heartbeat rate, not the fleet size.
import type { FleetAgent } from '../console-data.js';
import type { FleetPage, FleetSummary } from './fleet-page.js';

/** What one tick sends: the whole page the first time, then only its changes. */
export type FleetUpdate =
  | { readonly kind: 'snapshot'; readonly page: FleetPage }
  | {
      readonly kind: 'delta';
      /** Agents on the page whose heartbeat (or stale or spoofed flag) changed, or that joined the page. */
      readonly changed: FleetAgent[];
      /** Agents that left the page (gone from KV, filtered out, or moved to another page). */
      readonly removed: string[];
      /** The page's agent ids in order, only when the order or membership changed. */
      readonly order?: string[];
      readonly total: number;
      /** Only when it changed. */
      readonly summary?: FleetSummary;
    };

/** What a client already has of an agent: a new heartbeat has a new `sentAt`; age alone changes nothing shown but stale. */
function fingerprint(agent: FleetAgent): string {
  return `${agent.heartbeat.sentAt}|${agent.stale ? 1 : 0}|${agent.spoofed ? agent.claimedAgentId : ''}`;
}

/** Remembers what one client was sent, and turns each new page into the update that brings it up to date. */
export function createFleetDeltaTracker(): { next(page: FleetPage): FleetUpdate | undefined } {
  let sent: Map<string, string> | undefined;
  let order = '';
  let total = -1;
  let summary = '';
  return {
    /** The update for `page`, or undefined when nothing the client shows changed. */
    next(page) {
      const now = new Map(page.agents.map((a) => [a.agentId, fingerprint(a)]));
      const ids = page.agents.map((a) => a.agentId);
      const pageOrder = ids.join('\n');
      const pageSummary = JSON.stringify(page.summary);
      const previous = sent;
      sent = now;
      if (!previous) {
        [order, total, summary] = [pageOrder, page.total, pageSummary];
        return { kind: 'snapshot', page };
      }
      const changed = page.agents.filter((a) => previous.get(a.agentId) !== now.get(a.agentId));
      const removed = [...previous.keys()].filter((id) => !now.has(id));
      const orderChanged = pageOrder !== order;
      const summaryChanged = pageSummary !== summary;
      const totalChanged = page.total !== total;
      [order, total, summary] = [pageOrder, page.total, pageSummary];
      if (!changed.length && !removed.length && !orderChanged && !summaryChanged && !totalChanged) return undefined;
      return {
        kind: 'delta',
        changed,
        removed,
        ...(orderChanged ? { order: ids } : {}),
        total: page.total,
        ...(summaryChanged ? { summary: page.summary } : {}),
      };
    },
  };
}
