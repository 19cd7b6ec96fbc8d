// Pure logic of console sessions and the login rate limit, on a fake clock: cookies that were tampered with,
// expired or revoked are refused; revocations are forgotten once the cookie would be refused anyway; the limit
// window reopens; a flood of client addresses cannot grow the limiter without bound.
import { describe, expect, it } from 'vitest';
import { createConsoleAuth } from '../src/console-auth.js';
import { createLoginRateLimiter } from '../src/login-rate-limit.js';
import { resolveConsoleWebSettings } from '../src/console-settings.js';

const TOKEN = 'unit-test-token-0123456789';
const SECRET = 's'.repeat(32);

describe('session cookies', () => {
  it('verify on any console with the same secret, and on none with another', () => {
    const a = createConsoleAuth({ token: TOKEN, secret: SECRET });
    const cookie = a.issueSession('alice');
    expect(createConsoleAuth({ token: TOKEN, secret: SECRET }).verifySession(cookie)?.principal).toEqual({
      name: 'alice',
      via: 'session',
    });
    expect(createConsoleAuth({ token: TOKEN }).verifySession(cookie)).toBeUndefined();
  });

  it('refuse a tampered payload, a missing signature and extra parts', () => {
    const auth = createConsoleAuth({ token: TOKEN, secret: SECRET });
    const [payload, signature] = auth.issueSession('alice').split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ s: 'x'.repeat(22), n: 'root', e: Date.now() + 1e9 })).toString(
      'base64url',
    );
    for (const bad of [`${forged}.${signature}`, payload, `${payload}.`, `${payload}.${signature}.x`, '', undefined]) {
      expect(auth.verifySession(bad), String(bad)).toBeUndefined();
    }
  });

  it('end at expiry, and a revoked one stays refused until then, after which the revocation is forgotten', () => {
    let t = 1_000_000;
    const auth = createConsoleAuth({ token: TOKEN, secret: SECRET, sessionTtlMs: 10_000, now: () => t });
    const cookie = auth.issueSession('alice');
    const other = auth.issueSession('bob');
    const revoked = auth.revokeSession(cookie);
    expect(revoked?.expiresAt).toBe(1_010_000);
    expect(auth.verifySession(cookie)).toBeUndefined();
    expect(auth.verifySession(other)?.principal.name).toBe('bob');
    // Revoking an invalid cookie revokes nothing.
    expect(auth.revokeSession('nonsense')).toBeUndefined();
    t += 10_000;
    expect(auth.verifySession(other)).toBeUndefined();
    // A revocation learnt from elsewhere for an already expired session is not kept.
    auth.markRevoked('old-session-id', t - 1);
    const fresh = auth.issueSession('carol');
    auth.markRevoked(auth.verifySession(fresh)!.id, t + 10_000);
    expect(auth.verifySession(fresh)).toBeUndefined();
  });
});

describe('login rate limit', () => {
  it('allows maxFailures per window, tells how long to wait, and reopens when the window ends', () => {
    let t = 0;
    const limiter = createLoginRateLimiter({ maxFailures: 3, windowMs: 60_000, now: () => t });
    for (let i = 0; i < 3; i++) {
      expect(limiter.allowance('10.0.0.1')).toEqual({ allowed: true });
      limiter.recordFailure('10.0.0.1');
    }
    t = 15_500;
    expect(limiter.allowance('10.0.0.1')).toEqual({ allowed: false, retryAfterS: 45 });
    expect(limiter.allowance('10.0.0.2')).toEqual({ allowed: true });
    t = 60_000;
    expect(limiter.allowance('10.0.0.1')).toEqual({ allowed: true });
  });

  it('clears a client on success, and keeps at most maxClients windows (oldest dropped)', () => {
    const limiter = createLoginRateLimiter({ maxFailures: 1, maxClients: 100, now: () => 0 });
    limiter.recordFailure('a');
    limiter.recordSuccess('a');
    expect(limiter.allowance('a')).toEqual({ allowed: true });
    for (let i = 0; i < 150; i++) limiter.recordFailure(`client-${i}`);
    expect(limiter.allowance('client-0')).toEqual({ allowed: true });
    expect(limiter.allowance('client-149').allowed).toBe(false);
  });
});

describe('console web settings', () => {
  it('list every problem with its source, and take a secret from the environment', async () => {
    const bad = await resolveConsoleWebSettings(
      { token: 'short' },
      { CLEAVE_CONSOLE_SESSION_SECRET: 'also-short', CLEAVE_CONSOLE_TOKEN: 'ignored-because-the-flag-wins' },
    );
    expect(bad).toEqual({
      ok: false,
      problems: [
        '--token: must be at least 16 characters',
        'CLEAVE_CONSOLE_SESSION_SECRET: must be at least 32 characters (try: openssl rand -hex 32)',
      ],
    });
    const good = await resolveConsoleWebSettings({ trustProxy: true }, { CLEAVE_CONSOLE_SESSION_SECRET: SECRET });
    expect(good).toEqual({
      ok: true,
      settings: {
        token: undefined,
        sessionSecret: SECRET,
        sessionSecretSource: 'CLEAVE_CONSOLE_SESSION_SECRET',
        trustProxy: true,
        secureCookies: false,
        trustedPublishers: [],
      },
    });
  });

  it("read trusted publishers as KEY or NAME=KEY, the flag over the agents' variable, and name each bad entry", async () => {
    const key = `A${'B'.repeat(55)}`;
    const fromEnv = await resolveConsoleWebSettings({}, { CLEAVE_TRUSTED_PUBLISHERS: `release=${key}, ${key}` });
    expect(fromEnv.ok && fromEnv.settings.trustedPublishers).toEqual([
      { publicKey: key, name: 'release' },
      { publicKey: key },
    ]);
    const bad = await resolveConsoleWebSettings({ trustedPublishers: `ok=${key},SXXXX,=${key}` }, {});
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems).toEqual([
      '--trusted-publishers: \'SXXXX\' must be a publisher public key: "A" and 55 base32 characters (cleave keys new prints one)',
      `--trusted-publishers: '=${key}' has an empty name`,
    ]);
  });
});
