import { describe, expect, it } from 'vitest';
import { agentPolicyKey, mergePolicies, validateAgentPolicy } from '../src/agent-policy.js';

describe('agent policy', () => {
  it('accepts a partial policy and merges layers field by field', () => {
    const fleet = validateAgentPolicy({ objective: 'latency', accuracyBudgetPoints: 1 });
    const agent = validateAgentPolicy({ accuracyBudgetPoints: 2, pinSplit: null });
    expect(fleet.ok && agent.ok).toBe(true);
    if (!fleet.ok || !agent.ok) return;
    expect(mergePolicies({ codec: 'auto' }, fleet.policy, agent.policy)).toEqual({
      codec: 'auto',
      objective: 'latency',
      accuracyBudgetPoints: 2,
      pinSplit: null,
    });
    expect(agentPolicyKey('gw-1')).toBe('agent.gw-1');
  });

  it('reports every bad field at once, including unknown ones', () => {
    const result = validateAgentPolicy({ objective: 'fastest', accuracyFloor: 2, latencySloMs: -1, colour: 'red' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.fieldErrors).sort()).toEqual(['accuracyFloor', 'colour', 'latencySloMs', 'objective']);
    expect(result.fieldErrors['colour']).toEqual(['unknown field']);
  });
});
