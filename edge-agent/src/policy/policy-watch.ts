import type { NatsConnection } from '@nats-io/transport-node';
import { agentPolicyKey, type AgentPolicy, bucketNames, FLEET_POLICY_KEY, validateAgentPolicy } from '@cleave/proto';
import { openOrCreateKv } from '../agent/kv-bucket.js';

/** The policies that apply to this agent, as last read. */
export interface PolicyLayers {
  readonly fleet: AgentPolicy | undefined;
  readonly agent: AgentPolicy | undefined;
}

/** What {@link watchPolicies} needs. */
export interface PolicyWatchDeps {
  readonly nc: NatsConnection;
  readonly prefix: string;
  readonly agentId: string;
  /** Called with the layers after every valid change (and once with what is there at start). */
  readonly onChange: (layers: PolicyLayers) => void;
  /** An invalid document, or a failure to watch. */
  readonly onError: (message: string) => void;
  /** Pause before a broken watch is opened again. @default 2000 */
  readonly retryMs?: number;
}

/** A running watch. */
export interface PolicyWatch {
  stop(): void;
}

/**
 * Follows `{prefix}_policies`: the documents of proto's AgentPolicySchema, written by the console. Key `fleet`
 * applies to every agent, `agent.<agentId>` to this one, over the fleet's. An invalid document is ignored whole and
 * reported, never half-applied. Creates the bucket when it does not exist yet (so an agent may start before the
 * console), and watches every key keeping only those two: nats-server 2.9 cannot filter on two keys.
 */
export function watchPolicies(deps: PolicyWatchDeps): PolicyWatch {
  const retryMs = deps.retryMs ?? 2000;
  const wanted = new Set([FLEET_POLICY_KEY, agentPolicyKey(deps.agentId)]);
  let layers: PolicyLayers = { fleet: undefined, agent: undefined };
  let stopped = false;
  let stopWatch: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function run(): Promise<void> {
    try {
      const kv = await openOrCreateKv(deps.nc, bucketNames(deps.prefix).policies, { history: 5 });
      const entries = await kv.watch({ key: '>' });
      stopWatch = () => entries.stop();
      if (stopped) entries.stop();
      let announced = false;
      for await (const entry of entries) {
        let relevant = wanted.has(entry.key);
        if (relevant) {
          try {
            const value = entry.operation === 'PUT' ? parsePolicy(entry.value, entry.key) : undefined;
            layers = entry.key === FLEET_POLICY_KEY ? { ...layers, fleet: value } : { ...layers, agent: value };
          } catch (error) {
            // The previous document stays in force: a typo in the console must not reset a fleet's policy.
            deps.onError((error as Error).message);
            relevant = false;
          }
        }
        // The initial values are announced together (delta 0 marks the last), so the controller switches once.
        if (!announced) {
          if (entry.isUpdate || (entry.delta ?? 0) === 0) {
            announced = true;
            deps.onChange(layers);
          }
        } else if (relevant) deps.onChange(layers);
      }
    } catch (error) {
      if (!stopped) deps.onError(`policy watch failed: ${(error as Error).message}`);
    }
    if (!stopped) {
      timer = setTimeout(() => void run(), retryMs);
      timer.unref();
    }
  }

  void run();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      stopWatch?.();
    },
  };
}

function parsePolicy(bytes: Uint8Array, key: string): AgentPolicy {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new Error(`policy ${key} is not UTF-8 JSON: ${(error as Error).message}`);
  }
  const result = validateAgentPolicy(json);
  if (result.ok) return result.policy;
  const problems = Object.entries(result.fieldErrors).map(([field, errors]) => `${field}: ${errors.join(', ')}`);
  throw new Error(`policy ${key} is invalid and was ignored: ${problems.join('; ')}`);
}
