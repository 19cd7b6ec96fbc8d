import { describe, expect, it } from 'vitest';
import { createConfirmationBudget } from '../src/adapt/confirmation-budget.js';

describe('confirmation budget', () => {
  it('allows `probes` confirmations in any `perMs`, then again once the oldest ages out', () => {
    const budget = createConfirmationBudget({ probes: 3, perMs: 3000 });
    expect([0, 10, 20, 30].map((at) => budget.allow(at))).toEqual([true, true, true, false]);
    expect(budget.allow(2999)).toBe(false);
    expect(budget.allow(3000)).toBe(true);
  });

  it('lets a surprise corroborated by the last refused one (same direction) confirm beyond the budget', () => {
    const budget = createConfirmationBudget({ probes: 3, perMs: 3000 });
    // Settling noise spends the plain budget.
    expect([0, 100, 200].map((at) => budget.allow(at, 'up'))).toEqual([true, true, true]);
    // The link drops: the first slow sample is refused, the second agrees with it and confirms.
    expect(budget.allow(1000, 'down')).toBe(false);
    expect(budget.allow(1400, 'down')).toBe(true);
    // The pair is used up: the next needs a refused sample of its own to agree with.
    expect(budget.allow(1500, 'down')).toBe(false);
    expect(budget.allow(1600, 'down')).toBe(true);
  });

  it('does not corroborate across directions, across a window, or without a direction', () => {
    const budget = createConfirmationBudget({ probes: 1, perMs: 1000 });
    expect(budget.allow(0, 'up')).toBe(true);
    expect(budget.allow(10, 'up')).toBe(false);
    expect(budget.allow(20, 'down')).toBe(false); // disagrees with the refused 'up'
    expect(budget.allow(30)).toBe(false); // no direction: never corroborated
    expect(budget.allow(40, 'down')).toBe(true); // agrees with the refused 'down' at 20
    expect(budget.allow(50, 'down')).toBe(false);
    expect(budget.allow(999, 'down')).toBe(false); // plain budget full until 1000, second budget until 1040
  });

  it('holds a storm of surprises that all agree to twice the budget', () => {
    const budget = createConfirmationBudget({ probes: 3, perMs: 3000 });
    let allowed = 0;
    for (let at = 0; at < 3000; at += 10) if (budget.allow(at, 'down')) allowed += 1;
    expect(allowed).toBe(6);
  });
});
