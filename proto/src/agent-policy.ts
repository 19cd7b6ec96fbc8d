import { z } from 'zod';
import { CodecSchema } from './codecs.js';
import { ObjectiveModeSchema } from './objectives.js';
import { isValidToken } from './subjects.js';

const candidateId = z
  .string()
  .refine(isValidToken, { message: 'must be a candidate id (1-128 characters of A-Z a-z 0-9 _ -)' });

/** The fields a policy can set, for all models or for one. Every field is optional: unset fields keep the agent's own configuration. */
export const PolicyFieldsSchema = z.strictObject({
  /** `auto` lets the battery decide (latency on mains, energy as the battery falls). */
  objective: ObjectiveModeSchema.optional(),
  /** Request deadline: the longest an offload may take before the agent answers locally. */
  deadlineMs: z.number().int().positive().max(600_000).optional(),
  /** Accuracy the early exits may cost versus the final output, in points: picks the operating point on the curve. */
  budgetPoints: z.number().min(0).max(100).optional(),
  /** Overall accuracy the agent must never go below (the bundle's own floor always applies too), 0..1. */
  floorAccuracy: z.number().min(0).max(1).optional(),
  /** Force this wire codec. */
  codec: CodecSchema.optional(),
  /** Allowed wire codecs, preferred first. */
  codecs: z.array(CodecSchema).min(1).optional(),
  /** Pin a split candidate by id, bypassing the plan table; null clears a pin. */
  split: candidateId.nullable().optional(),
});
/** The fields of a policy. */
export type PolicyFields = z.infer<typeof PolicyFieldsSchema>;

/**
 * A policy document as stored in KV under `fleet` or `agent.<id>`: fields for every model, and
 * `models.<id>` overriding them for one model. An agent's effective policy is its configuration,
 * overlaid by the fleet document, overlaid by its own.
 */
export const AgentPolicySchema = PolicyFieldsSchema.extend({
  models: z.record(candidateId, PolicyFieldsSchema).optional(),
});
/** A policy document; see {@link AgentPolicySchema}. */
export type AgentPolicy = z.infer<typeof AgentPolicySchema>;

/** KV key (in the policies bucket) of the fleet-wide policy. */
export const FLEET_POLICY_KEY = 'fleet';

/** KV key (in the policies bucket) of one agent's own policy. */
export function agentPolicyKey(agentId: string): string {
  return `agent.${agentId}`;
}

/** Field errors of an invalid policy, keyed by field path, as returned by HTTP APIs. */
export type PolicyFieldErrors = Record<string, string[]>;

/** Validates a policy body; on failure returns every problem by field instead of throwing. */
export function validateAgentPolicy(
  json: unknown,
): { ok: true; policy: AgentPolicy } | { ok: false; fieldErrors: PolicyFieldErrors } {
  const parsed = AgentPolicySchema.safeParse(json);
  if (parsed.success) return { ok: true, policy: parsed.data };
  const fieldErrors: PolicyFieldErrors = {};
  for (const issue of parsed.error.issues) {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.join('.') || '(body)'];
    for (const key of keys)
      (fieldErrors[key] ??= []).push(issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message);
  }
  return { ok: false, fieldErrors };
}

/** The fields in effect for one model: later layers override earlier ones, and a layer's `models.<id>` overrides its top level. */
export function mergePolicies(model: string, ...layers: (AgentPolicy | undefined)[]): PolicyFields {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    const { models, ...top } = layer ?? {};
    for (const fields of [top, models?.[model]]) {
      for (const [k, v] of Object.entries(fields ?? {})) if (v !== undefined) merged[k] = v;
    }
  }
  return merged;
}
