/** Whether a client may try to log in now, and if not, for how long it must wait. */
export type LoginAllowance = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterS: number };

/** Counts failed logins per client (remote address) in a fixed window, so a token cannot be guessed at speed. */
export interface LoginRateLimiter {
  /** Checked before the token is: a limited client is refused even with the right token. */
  allowance(client: string): LoginAllowance;
  recordFailure(client: string): void;
  /** A successful login clears the client's failures. */
  recordSuccess(client: string): void;
}

/** Options of {@link createLoginRateLimiter}. */
export interface LoginRateLimitOptions {
  /** Failed attempts allowed per client per window. @default 5 */
  readonly maxFailures?: number;
  /** @default 60000 */
  readonly windowMs?: number;
  /** Clients tracked at most; beyond it the oldest windows are dropped, so a flood of addresses cannot exhaust memory. @default 10000 */
  readonly maxClients?: number;
  readonly now?: () => number;
}

/**
 * An in-memory limiter (hono-rate-limiter is not a dependency, and a fixed window per address is all login needs).
 * Each console process counts on its own.
 */
export function createLoginRateLimiter(options: LoginRateLimitOptions = {}): LoginRateLimiter {
  const maxFailures = options.maxFailures ?? 5;
  const windowMs = options.windowMs ?? 60_000;
  const maxClients = options.maxClients ?? 10_000;
  const now = options.now ?? Date.now;
  /** Client -> failures in the window that started at `since`. Insertion order is age order. */
  const windows = new Map<string, { since: number; failures: number }>();

  const current = (client: string) => {
    const w = windows.get(client);
    if (w && now() - w.since >= windowMs) {
      windows.delete(client);
      return undefined;
    }
    return w;
  };

  return {
    allowance(client) {
      const w = current(client);
      if (!w || w.failures < maxFailures) return { allowed: true };
      return { allowed: false, retryAfterS: Math.max(1, Math.ceil((w.since + windowMs - now()) / 1000)) };
    },
    recordFailure(client) {
      const w = current(client);
      if (w) {
        w.failures += 1;
        return;
      }
      while (windows.size >= maxClients) windows.delete(windows.keys().next().value!);
      windows.set(client, { since: now(), failures: 1 });
    },
    recordSuccess(client) {
      windows.delete(client);
    },
  };
}
