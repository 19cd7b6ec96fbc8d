// Evaluates the alert rules every few seconds for as long as the console runs, whether or not a page is open
// (Prometheus scrapes /metrics; drift must be timed even when nobody looks), and keeps the tracker's state.
import type { ConsoleData } from '../console-data.js';
import { renderConsoleMetrics, type ConsoleGauges } from './alert-metrics.js';
import { countersSince, evaluateAlerts, overloadedCounts, type AlertRules } from './alert-rules.js';
import { createAlertTracker, type AlertState } from './alert-tracker.js';

/** What the monitor needs. */
export interface AlertMonitorDeps {
  readonly data: ConsoleData;
  readonly rules: AlertRules;
  /** Between evaluations. @default 2000 */
  readonly intervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Told when an evaluation fails (the next one is tried as usual). */
  readonly onError?: (error: Error) => void;
}

/** The running evaluator. */
export interface AlertMonitor extends AsyncDisposable {
  /** Evaluates at once (also what each tick does), resolving with the new state. */
  evaluate(): Promise<AlertState>;
  state(): AlertState;
  /** The Prometheus text of /metrics. */
  metrics(): string;
  start(): void;
  close(): Promise<void>;
}

/** Creates the monitor; it evaluates only once started (or when asked). */
export function createAlertMonitor(deps: AlertMonitorDeps): AlertMonitor {
  const now = deps.now ?? Date.now;
  const tracker = createAlertTracker();
  // Manifests never change under a version: each floor is read once.
  const floors = new Map<string, Promise<number | undefined>>();
  let previousOverloaded: Map<string, number> | undefined;
  let gauges: ConsoleGauges = { agents: 0, staleAgents: 0, replicas: 0, evaluatedAt: 0, evaluationFailures: 0 };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<AlertState> | undefined;

  const floorOf = (model: string, version: string): Promise<number | undefined> => {
    const key = `${model}@${version}`;
    let floor = floors.get(key);
    if (floor === undefined) {
      floor = deps.data.manifest(model, version).then(
        (m) => m.exitPolicy?.floorAccuracy,
        () => {
          floors.delete(key); // not published (yet): ask again next time
          return undefined;
        },
      );
      floors.set(key, floor);
    }
    return floor;
  };

  async function evaluateOnce(): Promise<AlertState> {
    const [agents, replicas, models, policies] = await Promise.all([
      deps.data.fleet(),
      deps.data.cloud(),
      deps.data.bundles(),
      deps.data.policies(),
    ]);
    const bundleFloors = new Map<string, number>();
    for (const pair of new Set(agents.flatMap((a) => a.heartbeat.models.map((m) => `${m.model}@${m.version}`)))) {
      const [model, version] = pair.split('@') as [string, string];
      const floor = await floorOf(model, version);
      if (floor !== undefined) bundleFloors.set(pair, floor);
    }
    const overloaded = overloadedCounts(replicas);
    // The first snapshot has nothing to compare with: refusals before the console started are not news.
    const overloadedSince = countersSince(previousOverloaded ?? overloaded, overloaded);
    previousOverloaded = overloaded;
    const at = now();
    const conditions = evaluateAlerts(
      { now: at, agents, replicas, models, policies, bundleFloors, overloadedSince },
      deps.rules,
    );
    gauges = {
      ...gauges,
      agents: agents.length,
      staleAgents: agents.filter((a) => a.stale).length,
      replicas: replicas.length,
      evaluatedAt: at,
    };
    return tracker.update(conditions, at);
  }

  function evaluate(): Promise<AlertState> {
    running ??= evaluateOnce()
      .catch((error: unknown) => {
        gauges = { ...gauges, evaluationFailures: gauges.evaluationFailures + 1 };
        deps.onError?.(error as Error);
        return tracker.state();
      })
      .finally(() => (running = undefined));
    return running;
  }

  async function close(): Promise<void> {
    clearInterval(timer);
    timer = undefined;
    await running;
  }

  return {
    evaluate,
    state: () => tracker.state(),
    metrics: () => renderConsoleMetrics(tracker.state(), gauges),
    start() {
      if (timer !== undefined) return;
      void evaluate();
      timer = setInterval(() => void evaluate(), deps.intervalMs ?? 2000);
      timer.unref(); // a console shutting down does not wait for the next evaluation
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
