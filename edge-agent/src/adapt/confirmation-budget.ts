// How many probes may confirm surprising bandwidth samples. A fixed budget keeps a noisy link from chaining
// confirmations into a probe storm, but the noise that comes first (a link settling, a few outliers) can spend
// it just before a real step, and then the step's own surprising samples are refused: on a 20 → 0.5 Mbps step
// the median turned only with the third slow offload, 1.1 s after the first. A surprise in the same direction as
// the last refused one is corroborated (two samples now agree on a new link), and may draw on a second budget of
// the same size: a real step turns the median sooner, and a storm still costs at most twice the budget.

/** Which way a sample surprised: above or below the median before it. */
export type SurpriseDirection = 'up' | 'down';

/** Settings of {@link createConfirmationBudget}. */
export interface ConfirmationBudgetOptions {
  /** Confirmations allowed in any `perMs`, in each of the two budgets. */
  readonly probes: number;
  readonly perMs: number;
}

/** Decides, one surprising sample at a time, whether a confirmation probe may run. */
export interface ConfirmationBudget {
  /** True (and counted) when a confirmation of a sample that surprised at `at` in `direction` may run. */
  allow(at: number, direction?: SurpriseDirection): boolean;
}

/** Creates an empty pair of budgets. */
export function createConfirmationBudget(options: ConfirmationBudgetOptions): ConfirmationBudget {
  let plain: number[] = [];
  let corroborated: number[] = [];
  let lastRefused: { at: number; direction: SurpriseDirection } | undefined;
  const take = (spent: number[], at: number): number[] | undefined => {
    const recent = spent.filter((t) => at - t < options.perMs);
    if (recent.length >= options.probes) return undefined;
    recent.push(at);
    return recent;
  };
  return {
    allow(at, direction) {
      const fromPlain = take(plain, at);
      if (fromPlain !== undefined) {
        plain = fromPlain;
        return true;
      }
      const agrees =
        direction !== undefined &&
        lastRefused !== undefined &&
        lastRefused.direction === direction &&
        at - lastRefused.at < options.perMs;
      const fromCorroborated = agrees ? take(corroborated, at) : undefined;
      if (fromCorroborated !== undefined) {
        corroborated = fromCorroborated;
        // The pair is used up: the next corroboration needs a new refused sample to agree with.
        lastRefused = undefined;
        return true;
      }
      if (direction !== undefined) lastRefused = { at, direction };
      return false;
    },
  };
}
