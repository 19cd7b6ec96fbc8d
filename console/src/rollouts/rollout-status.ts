// Where each model's rollout stands, from the heartbeats alone: which agents run the current version, which are
// downloading it (bytes and percent, as the agent's bundle manager reports them), which failed to load it, which
// have not started, and which stopped heartbeating (their version is a guess from their last heartbeat).
import type { FleetAgent, ModelBundles } from '../console-data.js';

/** Where one agent stands in a model's rollout. */
export const AgentRolloutState = {
  Current: 'current',
  Downloading: 'downloading',
  Failed: 'failed',
  /** Heartbeating on another version and not downloading the current one (yet). */
  Behind: 'behind',
  Stale: 'stale',
} as const;
/** One of {@link AgentRolloutState}. */
export type AgentRolloutState = (typeof AgentRolloutState)[keyof typeof AgentRolloutState];

/** One agent in a model's rollout. */
export interface AgentRollout {
  readonly agentId: string;
  readonly state: AgentRolloutState;
  /** The version it serves (absent before its first bundle). */
  readonly version: string | undefined;
  /** The download in progress, when downloading (possibly of another version than current). */
  readonly download?: {
    readonly version: string;
    readonly bytes: number;
    readonly totalBytes: number;
    readonly percent: number;
  };
  /** Why it failed: the agent's last error, which names the version it could not load. */
  readonly error?: string;
}

/** A model's rollout: the current version and every agent that serves or fetches the model. */
export interface ModelRollout {
  readonly model: string;
  readonly current: string | undefined;
  readonly agents: readonly AgentRollout[];
  readonly counts: Readonly<Record<AgentRolloutState, number>>;
  /** Bytes downloaded so far and in all, over the agents downloading the current version. */
  readonly downloadedBytes: number;
  readonly totalBytes: number;
}

/**
 * True when `lastError` says the agent could not load `model@version`: the bundle manager reports a failed fetch or
 * load as `cannot load bundle <model>@<version>: ...` (with a time in front), and a refusal the same way.
 */
function failedToLoad(lastError: string | undefined, model: string, version: string): boolean {
  return lastError !== undefined && lastError.includes(`cannot load bundle ${model}@${version}:`);
}

/** The state of `agent` in the rollout of `model` to `current`, or undefined when the agent does not serve it. */
function agentRollout(agent: FleetAgent, model: string, current: string | undefined): AgentRollout | undefined {
  const serving = agent.heartbeat.models.find((m) => m.model === model);
  const download = agent.heartbeat.downloads?.find((d) => d.model === model);
  if (serving === undefined && download === undefined) return undefined;
  const base = {
    agentId: agent.agentId,
    version: serving?.version,
    ...(download === undefined
      ? {}
      : {
          download: {
            version: download.version,
            bytes: download.bytes,
            totalBytes: download.totalBytes,
            percent: download.percent,
          },
        }),
  };
  if (agent.stale) return { ...base, state: AgentRolloutState.Stale };
  if (current !== undefined && serving?.version === current) return { ...base, state: AgentRolloutState.Current };
  if (download !== undefined) return { ...base, state: AgentRolloutState.Downloading };
  if (current !== undefined && failedToLoad(agent.heartbeat.lastError, model, current)) {
    return { ...base, state: AgentRolloutState.Failed, error: agent.heartbeat.lastError! };
  }
  return { ...base, state: AgentRolloutState.Behind };
}

/** Every model's rollout, in the order of `models`; agents in the fleet's order. */
export function rolloutStatus(models: readonly ModelBundles[], fleet: readonly FleetAgent[]): ModelRollout[] {
  return models.map(({ model, current }) => {
    const agents = fleet.flatMap((a) => agentRollout(a, model, current) ?? []);
    const counts = Object.fromEntries(Object.values(AgentRolloutState).map((s) => [s, 0])) as Record<
      AgentRolloutState,
      number
    >;
    for (const a of agents) counts[a.state]++;
    const downloading = agents.filter((a) => a.download !== undefined && a.download.version === current);
    return {
      model,
      current,
      agents,
      counts,
      downloadedBytes: downloading.reduce((sum, a) => sum + a.download!.bytes, 0),
      totalBytes: downloading.reduce((sum, a) => sum + a.download!.totalBytes, 0),
    };
  });
}
