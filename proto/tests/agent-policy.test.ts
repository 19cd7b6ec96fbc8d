import { describe, expect, it } from 'vitest';
import { agentPolicyKey, mergePolicies, validateAgentPolicy } from '../src/agent-policy.js';

describe('agent policy', () => {
  it('accepts a partial policy and merges layers field by field', () => {
    const fleet = validateAgentPolicy({ objective: 'latency', budgetPoints: 1, models: { fmnist: { codec: 'f16' } } });
    const agent = validateAgentPolicy({ budgetPoints: 2, split: null });
    expect(fleet.ok && agent.ok).toBe(true);
    if (!fleet.ok || !agent.ok) return;
    expect(mergePolicies('fmnist', { codec: 'int8', deadlineMs: 50 }, fleet.policy, agent.policy)).toEqual({
      codec: 'f16',
      deadlineMs: 50,
      objective: 'latency',
      budgetPoints: 2,
      split: null,
    });
    expect(mergePolicies('other', fleet.policy).codec).toBeUndefined();
    expect(agentPolicyKey('gw-1')).toBe('agent.gw-1');
  });

  it('reports every bad field at once, including unknown ones', () => {
    const result = validateAgentPolicy({ objective: 'fastest', floorAccuracy: 2, deadlineMs: -1, colour: 'red' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.fieldErrors).sort()).toEqual(['colour', 'deadlineMs', 'floorAccuracy', 'objective']);
    expect(result.fieldErrors['colour']).toEqual(['unknown field']);
  });
});
