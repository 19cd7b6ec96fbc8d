// Alert state across snapshots: a condition is pending from the first snapshot it holds in, raised once it has
// held for its `forMs`, and cleared at the first snapshot it no longer holds in. Cleared alerts are kept a while,
// so the page can say "cleared 2 min ago" and the metric drops to 0 instead of vanishing mid-scrape.
import type { AlertCondition } from './alert-rules.js';

/** One alert with its times (epoch ms). */
export interface AlertRecord extends Omit<AlertCondition, 'forMs'> {
  /** `alert|agent|model|replica`: one alert per kind and subject. */
  readonly key: string;
  /** First snapshot the condition held in. */
  readonly since: number;
  readonly raisedAt: number;
  /** Set once the condition stopped holding. */
  readonly clearedAt?: number;
}

/** Raised alerts (newest first) and those cleared within the retention (newest clearance first). */
export interface AlertState {
  readonly active: readonly AlertRecord[];
  readonly cleared: readonly AlertRecord[];
}

/** Tracks conditions over time; `update` is called with each snapshot's conditions. */
export interface AlertTracker {
  update(conditions: readonly AlertCondition[], now: number): AlertState;
  state(): AlertState;
}

/** The identity of an alert: its kind and subject. */
export function alertKey(c: Pick<AlertCondition, 'alert' | 'agent' | 'model' | 'replica'>): string {
  return [c.alert, c.agent ?? '', c.model ?? '', c.replica ?? ''].join('|');
}

/** Creates a tracker that keeps cleared alerts for `clearedRetentionMs`. */
export function createAlertTracker(options: { clearedRetentionMs?: number } = {}): AlertTracker {
  const retentionMs = options.clearedRetentionMs ?? 15 * 60_000;
  // Conditions seen, raised or not yet: the reason is refreshed each snapshot (its figures change).
  const holding = new Map<string, { condition: AlertCondition; since: number; raisedAt?: number }>();
  const cleared = new Map<string, AlertRecord>();
  let last: AlertState = { active: [], cleared: [] };

  function record(key: string, c: AlertCondition, since: number, raisedAt: number): AlertRecord {
    return {
      key,
      alert: c.alert,
      severity: c.severity,
      ...(c.agent === undefined ? {} : { agent: c.agent }),
      ...(c.model === undefined ? {} : { model: c.model }),
      ...(c.replica === undefined ? {} : { replica: c.replica }),
      reason: c.reason,
      since,
      raisedAt,
    };
  }

  return {
    update(conditions, now) {
      const seen = new Set<string>();
      for (const condition of conditions) {
        const key = alertKey(condition);
        seen.add(key);
        const entry = holding.get(key) ?? { condition, since: now };
        entry.condition = condition;
        if (entry.raisedAt === undefined && now - entry.since >= condition.forMs) {
          entry.raisedAt = now;
          cleared.delete(key); // raised again: no longer listed as cleared
        }
        holding.set(key, entry);
      }
      for (const [key, entry] of holding) {
        if (seen.has(key)) continue;
        holding.delete(key);
        if (entry.raisedAt !== undefined) {
          cleared.set(key, { ...record(key, entry.condition, entry.since, entry.raisedAt), clearedAt: now });
        }
      }
      for (const [key, alert] of cleared) if (now - alert.clearedAt! > retentionMs) cleared.delete(key);
      last = {
        active: [...holding]
          .filter(([, e]) => e.raisedAt !== undefined)
          .map(([key, e]) => record(key, e.condition, e.since, e.raisedAt!))
          .sort((a, b) => b.raisedAt - a.raisedAt || a.key.localeCompare(b.key)),
        cleared: [...cleared.values()].sort((a, b) => b.clearedAt! - a.clearedAt! || a.key.localeCompare(b.key)),
      };
      return last;
    },
    state: () => last,
  };
}
