import { z } from 'zod';
import { isValidToken } from './subjects.js';

/**
 * What an operator may set for the whole fleet or for one agent. Every field is optional: an
 * agent's effective policy is its defaults, overlaid by the fleet policy, overlaid by its own.
 */
export const AgentPolicySchema = z
  .object({
    /** `auto` lets the battery decide (latency on mains, energy as the battery falls). */
    objective: z.enum(['auto', 'latency', 'energy', 'balanced']).optional(),
    /** Latency the operator wants per request; the agent uses it as its offload deadline. */
    latencySloMs: z.number().positive().max(60_000).optional(),
    /** Accuracy the early exits may cost versus the final output, in points: picks the operating point on the curve. */
    accuracyBudgetPoints: z.number().min(0).max(20).optional(),
    /** Overall accuracy the agent must never go below, even on low battery (0..1). */
    accuracyFloor: z.number().min(0).max(1).optional(),
    /** Wire codec for cut tensors; `auto` follows the plan table. */
    codec: z.enum(['auto', 'f32', 'f16', 'int8']).optional(),
    /** Pin a split candidate by id, bypassing the plan table; null clears a pin. */
    pinSplit: z.string().refine(isValidToken, { message: 'must be a candidate id' }).nullable().optional(),
  })
  .strict();
/** An operator policy; see {@link AgentPolicySchema}. */
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

/** The effective policy: later layers override earlier ones field by field. */
export function mergePolicies(...layers: (AgentPolicy | undefined)[]): AgentPolicy {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined) merged[k] = v;
  }
  return merged;
}
