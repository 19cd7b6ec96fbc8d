import { Kvm, type KV } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  agentPolicyKey,
  bucketNames,
  FLEET_POLICY_KEY,
  TAIL_SERVICE_NAME,
  type AgentPolicy,
  type BundleManifest,
  type Heartbeat,
  type TrustedPublisher,
} from '@cleave/proto';
import { createBundleReader, openHeartbeatKv } from '@cleave/node-runtime';
import { createFleetCache, fleetAgentAt, storedHeartbeat, type FleetCacheLog } from './fleet/fleet-cache.js';
import type { HistoryBeat } from './history/heartbeat-series.js';
import { readHeartbeatHistory } from './history/history-reader.js';
import { versionIntegrity, type VersionIntegrity } from './version-integrity.js';

/** One agent as the fleet page shows it. */
export interface FleetAgent {
  /**
   * The authenticated writer: the KV key the heartbeat was written under. NATS lets agent X write only
   * `$KV.<prefix>_heartbeats.X`, so the key is who wrote it; the id inside the body is only a claim.
   */
  readonly agentId: string;
  /** The heartbeat as written, except that its `agentId` is the key (so no reader can take the claim for the writer). */
  readonly heartbeat: Heartbeat;
  /** The body named another agent than the key it was written under: flagged, and shown only under the key. */
  readonly spoofed: boolean;
  /** The agent id the body claimed, when `spoofed`. */
  readonly claimedAgentId?: string;
  /** Milliseconds since its last heartbeat. */
  readonly ageMs: number;
  /** True when more than three heartbeat intervals have passed. */
  readonly stale: boolean;
}

/** One cloud replica discovered over `$SRV`. */
export interface CloudReplicaView {
  readonly id: string;
  readonly name: string;
  /** The name the replica was started with (`--replica`), from its service metadata; null when it gave none. */
  readonly replica: string | null;
  readonly version: string;
  readonly started: string;
  readonly endpoints: readonly {
    name: string;
    subject: string;
    requests: number;
    errors: number;
    averageProcessingMs: number;
    data: unknown;
  }[];
}

/** A model in the bundle store with its versions and the current one. */
export interface ModelBundles {
  readonly model: string;
  readonly current: string | undefined;
  readonly versions: readonly string[];
}

/** One recorded operator change. */
export interface AuditEntry {
  readonly at: string;
  readonly who: string;
  readonly action: string;
  readonly target: string;
  readonly detail: unknown;
}

/** Everything the console reads from and writes to NATS. */
export interface ConsoleData {
  /** Every agent, sorted by id, from the console's watch-fed copy of the heartbeat bucket. */
  fleet(): Promise<FleetAgent[]>;
  /** One agent from its latest heartbeat; undefined when it has none (or only a malformed one). */
  agent(agentId: string): Promise<FleetAgent | undefined>;
  /** The agent's heartbeats written since `sinceMs` (server time), oldest first, from the heartbeat history. */
  heartbeatHistory(agentId: string, sinceMs: number): Promise<HistoryBeat[]>;
  cloud(): Promise<CloudReplicaView[]>;
  bundles(): Promise<ModelBundles[]>;
  manifest(model: string, version: string): Promise<BundleManifest>;
  /** The manifest of a version, with the check every loader runs on it against the publishers the console trusts. */
  integrity(model: string, version: string): Promise<{ manifest: BundleManifest; integrity: VersionIntegrity }>;
  /** The publishers this console was told to trust (the same list the agents and replicas are given). */
  readonly trustedPublishers: readonly TrustedPublisher[];
  setCurrent(model: string, version: string): Promise<void>;
  /** The versions `model` was made current at, oldest first (the KV keeps the last few), for a rollback. */
  currentHistory(model: string): Promise<string[]>;
  policies(): Promise<{ fleet: AgentPolicy | undefined; agents: Record<string, AgentPolicy> }>;
  putPolicy(scope: { agentId?: string }, policy: AgentPolicy): Promise<void>;
  /** Removes the fleet's or one agent's policy document: the agents go back to what the next level down says. */
  deletePolicy(scope: { agentId?: string }): Promise<void>;
  audit(limit: number): Promise<AuditEntry[]>;
  record(entry: Omit<AuditEntry, 'at'>): Promise<void>;
  /** Records a logout in the audit log, where every console (and this one after a restart) learns of it. */
  recordLogout(logout: SessionLogout): Promise<void>;
  /**
   * Calls `onLogout` for every logout recorded so far (before resolving) and then for each new one, for as long as
   * the connection lives.
   */
  followLogouts(onLogout: (logout: SessionLogout) => void): Promise<void>;
}

/** A revoked console session, as recorded in the audit log. */
export interface SessionLogout {
  readonly who: string;
  readonly sessionId: string;
  readonly expiresAt: number;
}

/** Audit keys of logouts: `logout.<session id>`, so they can be listed and watched apart from other entries. */
const LOGOUT_KEY_PREFIX = 'logout.';
const SESSION_ID = /^[\w-]{8,64}$/;

/** A logout read back from the audit log, or undefined when the entry is not one (never trusted blindly). */
function parseLogout(bytes: Uint8Array): SessionLogout | undefined {
  try {
    const entry = JSON.parse(decoder.decode(bytes)) as Partial<AuditEntry>;
    const detail = entry.detail as Partial<SessionLogout> | undefined;
    if (entry.action !== 'logout' || typeof detail?.sessionId !== 'string' || !SESSION_ID.test(detail.sessionId)) {
      return undefined;
    }
    if (typeof detail.expiresAt !== 'number') return undefined;
    return { who: String(entry.who), sessionId: detail.sessionId, expiresAt: detail.expiresAt };
  } catch {
    return undefined;
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads the console's view of the system from NATS: heartbeats and policies in KV, bundles in the object store, replicas via `$SRV`. */
export function createConsoleData(
  nc: NatsConnection,
  options: {
    prefix: string;
    now?: () => number;
    log?: FleetCacheLog;
    trustedPublishers?: readonly TrustedPublisher[];
  },
): ConsoleData {
  const names = bucketNames(options.prefix);
  const now = options.now ?? Date.now;
  const kvm = new Kvm(nc);
  const reader = createBundleReader(nc, { prefix: options.prefix });
  const buckets = new Map<string, Promise<KV>>();
  // Buckets are created on first use, so a fresh system shows empty pages instead of errors.
  const bucket = (name: string, history = 1): Promise<KV> => {
    let kv = buckets.get(name);
    if (!kv) {
      kv = kvm.create(name, { history });
      kv.catch(() => buckets.delete(name));
      buckets.set(name, kv);
    }
    return kv;
  };
  const auditBucket = `${options.prefix}_audit`;
  let heartbeatKv: Promise<KV> | undefined;
  const heartbeats = (): Promise<KV> => {
    heartbeatKv ??= openHeartbeatKv(nc, options.prefix);
    heartbeatKv.catch(() => (heartbeatKv = undefined));
    return heartbeatKv;
  };

  const fleetCache = createFleetCache(heartbeats, {
    now,
    connectionClosed: () => nc.isClosed(),
    ...(options.log ? { log: options.log } : {}),
  });

  async function readAll(kv: KV): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    for await (const key of await kv.keys()) {
      const entry = await kv.get(key);
      if (entry && entry.operation === 'PUT') out.set(key, entry.value);
    }
    return out;
  }

  return {
    async agent(agentId) {
      const entry = await (await heartbeats()).get(agentId);
      const stored = entry?.operation === 'PUT' ? storedHeartbeat(agentId, entry.value) : undefined;
      return stored === undefined ? undefined : fleetAgentAt(agentId, stored, now());
    },

    heartbeatHistory: (agentId, sinceMs) => readHeartbeatHistory(nc, options.prefix, agentId, sinceMs),

    fleet: () => fleetCache.agents(),

    async cloud() {
      // @nats-io/services pins its own nats-core, whose types differ from ours; at runtime both are the same
      // connection and the same 'timer' strategy (collect replies for maxWait ms).
      const svcm = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]);
      const client = svcm.client({ strategy: 'timer', maxWait: 500 } as unknown as Parameters<Svcm['client']>[0]);
      const replicas = new Map<string, CloudReplicaView>();
      try {
        for await (const info of await client.info(TAIL_SERVICE_NAME)) {
          const replica = typeof info.metadata?.['replica'] === 'string' ? info.metadata['replica'] : null;
          replicas.set(info.id, {
            id: info.id,
            name: info.name,
            replica,
            version: info.version,
            started: '',
            endpoints: [],
          });
        }
        for await (const stats of await client.stats(TAIL_SERVICE_NAME)) {
          replicas.set(stats.id, {
            id: stats.id,
            name: stats.name,
            replica: replicas.get(stats.id)?.replica ?? null,
            version: stats.version,
            started: stats.started,
            endpoints: (stats.endpoints ?? []).map((e) => ({
              name: e.name,
              subject: e.subject,
              requests: e.num_requests,
              errors: e.num_errors,
              averageProcessingMs: e.average_processing_time / 1e6,
              data: e.data,
            })),
          });
        }
      } catch (error) {
        // No responders: no replicas are running. Anything else is a real failure.
        if (!/no responders|503/i.test((error as Error).message)) throw error;
      }
      return [...replicas.values()].sort((a, b) => a.id.localeCompare(b.id));
    },

    async bundles() {
      const models = new Map<string, Set<string>>();
      try {
        const os = await new Objm(nc).open(names.bundles);
        for (const info of await os.list()) {
          const [model, version, file] = info.name.split('/');
          if (model && version && file === 'manifest.json') {
            const set = models.get(model) ?? new Set<string>();
            set.add(version);
            models.set(model, set);
          }
        }
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw error;
      }
      const out: ModelBundles[] = [];
      for (const [model, versions] of models) {
        out.push({ model, current: await reader.currentVersion(model), versions: [...versions].sort() });
      }
      return out.sort((a, b) => a.model.localeCompare(b.model));
    },

    async manifest(model, version) {
      return (await reader.readManifest(model, version)).manifest;
    },

    trustedPublishers: options.trustedPublishers ?? [],

    async integrity(model, version) {
      // One read of the manifest for both: the view shows it, and the check needs its exact bytes.
      const stored = await reader.readManifest(model, version);
      return { manifest: stored.manifest, integrity: versionIntegrity(stored, options.trustedPublishers ?? []) };
    },

    async setCurrent(model, version) {
      // Reading the manifest first proves the version exists and is intact before anyone is pointed at it.
      await reader.readManifest(model, version);
      await (await kvm.open(names.current)).put(model, encoder.encode(version));
    },

    async currentHistory(model) {
      const versions: string[] = [];
      try {
        for await (const entry of await (await kvm.open(names.current)).history({ key: model })) {
          if (entry.operation === 'PUT') versions.push(decoder.decode(entry.value));
        }
      } catch (error) {
        if (!/not found/i.test((error as Error).message)) throw error;
      }
      return versions;
    },

    async policies() {
      const all = await readAll(await bucket(names.policies));
      const parse = (bytes: Uint8Array | undefined): AgentPolicy | undefined =>
        bytes ? (JSON.parse(decoder.decode(bytes)) as AgentPolicy) : undefined;
      const agents: Record<string, AgentPolicy> = {};
      for (const [key, value] of all) if (key.startsWith('agent.')) agents[key.slice(6)] = parse(value)!;
      return { fleet: parse(all.get(FLEET_POLICY_KEY)), agents };
    },

    async putPolicy(scope, policy) {
      const key = scope.agentId ? agentPolicyKey(scope.agentId) : FLEET_POLICY_KEY;
      await (await bucket(names.policies)).put(key, encoder.encode(JSON.stringify(policy)));
    },

    async deletePolicy(scope) {
      await (await bucket(names.policies)).delete(scope.agentId ? agentPolicyKey(scope.agentId) : FLEET_POLICY_KEY);
    },

    async audit(limit) {
      const entries: AuditEntry[] = [];
      for (const [, value] of await readAll(await bucket(auditBucket))) {
        entries.push(JSON.parse(decoder.decode(value)) as AuditEntry);
      }
      return entries.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
    },

    async record(entry) {
      const at = new Date(now()).toISOString();
      const key = `${at.replace(/[^0-9]/g, '')}-${Math.random().toString(36).slice(2, 8)}`;
      await (await bucket(auditBucket)).put(key, encoder.encode(JSON.stringify({ at, ...entry })));
    },

    async recordLogout({ who, sessionId, expiresAt }) {
      if (!SESSION_ID.test(sessionId)) throw new RangeError(`'sessionId' is not a session id: ${sessionId}`);
      const entry: AuditEntry = {
        at: new Date(now()).toISOString(),
        who,
        action: 'logout',
        target: 'session',
        detail: { sessionId, expiresAt },
      };
      await (await bucket(auditBucket)).put(`${LOGOUT_KEY_PREFIX}${sessionId}`, encoder.encode(JSON.stringify(entry)));
    },

    async followLogouts(onLogout) {
      const kv = await bucket(auditBucket);
      // The live watch starts first, so a logout recorded while the old ones are read is not missed (at worst seen twice).
      const updates = await kv.watch({ key: `${LOGOUT_KEY_PREFIX}>`, include: 'updates', ignoreDeletes: true });
      void (async () => {
        for await (const entry of updates) {
          const logout = entry.operation === 'PUT' ? parseLogout(entry.value) : undefined;
          if (logout) onLogout(logout);
        }
      })();
      for await (const key of await kv.keys(`${LOGOUT_KEY_PREFIX}>`)) {
        const entry = await kv.get(key);
        const logout = entry?.operation === 'PUT' ? parseLogout(entry.value) : undefined;
        if (logout) onLogout(logout);
      }
    },
  };
}
