// Threat: console sessions outlive a logout, survive restarts they should not, the token can be guessed at speed,
// and the page runs without a CSP or Secure cookie. Each check runs against a real `cleave console` process
// (spawned from cli/dist: run `npx tsc -b` first) on a real nats-server, over real HTTP.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createConsoleApp, createConsoleAuth, createConsoleData } from '@cleave/console';
import { runCleave, startConsoleProcess, type ConsoleProcess, useTestNats } from '../harness/mod.js';

const TOKEN = 'sessions-test-token-0123456789';
const nats = useTestNats();
let work: string;
let secretFile: string;
const running = new Set<ConsoleProcess>();

async function startConsole(args: string[] = []): Promise<ConsoleProcess> {
  const proc = await startConsoleProcess(nats().url, nats().prefix, TOKEN, {}, args);
  running.add(proc);
  return proc;
}
async function stopConsole(proc: ConsoleProcess): Promise<void> {
  running.delete(proc);
  expect(await proc.stop()).toBe(0);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cleave-console-sessions-'));
  secretFile = join(work, 'session-secret');
  await writeFile(secretFile, `${'5e'.repeat(32)}\n`);
});
afterAll(async () => {
  await Promise.all([...running].map((p) => p.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

/** POSTs the login form; returns the response without following its redirect. */
function postLogin(url: string, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/login`, {
    method: 'POST',
    body: new URLSearchParams({ token, name: 'mallory-or-alice' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    redirect: 'manual',
  });
}

/** Logs in and returns the session cookie (`name=value`), its Set-Cookie line and the page's CSRF token. */
async function login(url: string, headers: Record<string, string> = {}) {
  const res = await postLogin(url, TOKEN, headers);
  expect(res.status).toBe(303);
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('cleave_session='))!;
  const cookie = setCookie.split(';')[0]!;
  const page = await (await fetch(`${url}/`, { headers: { cookie }, redirect: 'manual' })).text();
  const csrf = /name="cleave-csrf" content="([^"]+)"/.exec(page)?.[1];
  expect(csrf, 'the page carries a CSRF token').toBeDefined();
  return { cookie, setCookie, csrf: csrf! };
}

/** Status of an API read and of the page with `cookie`. */
async function statusesWith(url: string, cookie: string): Promise<{ api: number; page: number; location: string }> {
  const api = await fetch(`${url}/api/fleet`, { headers: { cookie } });
  const page = await fetch(`${url}/`, { headers: { cookie }, redirect: 'manual' });
  return { api: api.status, page: page.status, location: page.headers.get('location') ?? '' };
}

function logout(url: string, cookie: string, csrf?: string): Promise<Response> {
  return fetch(`${url}/logout`, {
    method: 'POST',
    headers: { cookie, ...(csrf ? { 'x-cleave-csrf': csrf } : {}) },
    redirect: 'manual',
  });
}

describe('logout', () => {
  it('is refused without the CSRF header, and with it revokes the session on the server', async () => {
    const proc = await startConsole();
    try {
      const { cookie, csrf } = await login(proc.url);
      expect(await statusesWith(proc.url, cookie)).toMatchObject({ api: 200, page: 200 });

      const forged = await logout(proc.url, cookie);
      expect(forged.status).toBe(403);
      expect(await statusesWith(proc.url, cookie)).toMatchObject({ api: 200, page: 200 });

      const res = await logout(proc.url, cookie, csrf);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/login');
      // The browser is told to drop the cookie, but a copy kept by an attacker must be dead too.
      expect(res.headers.getSetCookie().join('\n')).toMatch(/cleave_session=;.*Max-Age=0/);
      let accepted = 0;
      const tries = 20;
      for (let i = 0; i < tries; i++) {
        const s = await statusesWith(proc.url, cookie);
        expect(s).toEqual({ api: 401, page: 303, location: '/login' });
        if (s.api !== 401 || s.page !== 303) accepted++;
      }
      const again = await logout(proc.url, cookie, csrf);
      console.log(
        `logout without CSRF header: ${forged.status}; revoked cookie accepted after logout: ${accepted} of ${tries * 2} requests; ` +
          `second logout with it: ${again.status}`,
      );
      // A revoked cookie is no session any more: the write is refused as unauthenticated, not performed.
      expect(again.status).toBe(303);
      expect(await statusesWith(proc.url, cookie)).toMatchObject({ api: 401 });
    } finally {
      await stopConsole(proc);
    }
  });
});

describe('sessions across a console restart', () => {
  it('survive only with a configured secret; a logged-out session stays revoked after the restart', async () => {
    const withSecret = ['--session-secret-file', secretFile];
    const first = await startConsole(withSecret);
    const kept = await login(first.url);
    const loggedOut = await login(first.url);
    expect((await logout(first.url, loggedOut.cookie, loggedOut.csrf)).status).toBe(303);
    await stopConsole(first);
    const second = await startConsole(withSecret);
    const keptAfter = await statusesWith(second.url, kept.cookie);
    const loggedOutAfter = await statusesWith(second.url, loggedOut.cookie);
    await stopConsole(second);

    const noSecret = await startConsole();
    const ephemeral = await login(noSecret.url);
    expect((await statusesWith(noSecret.url, ephemeral.cookie)).api).toBe(200);
    await stopConsole(noSecret);
    const restarted = await startConsole();
    const ephemeralAfter = await statusesWith(restarted.url, ephemeral.cookie);
    // A cookie signed with the configured secret means nothing to a console with a random one.
    const keptOnRandom = await statusesWith(restarted.url, kept.cookie);
    await stopConsole(restarted);

    console.log(
      `after restart with --session-secret-file: live session ${keptAfter.api}, logged-out session ${loggedOutAfter.api}; ` +
        `without a secret: session ${ephemeralAfter.api}; secret-signed cookie on a random-secret console: ${keptOnRandom.api}`,
    );
    expect(keptAfter).toMatchObject({ api: 200, page: 200 });
    expect(loggedOutAfter).toEqual({ api: 401, page: 303, location: '/login' });
    expect(ephemeralAfter).toEqual({ api: 401, page: 303, location: '/login' });
    expect(keptOnRandom.api).toBe(401);
  });

  it('names the flag, variable or file of a bad session secret, with every problem on one line', async () => {
    const missing = await runCleave(
      ['console', '--nats-url', nats().url, '--token', 'short', '--session-secret-file', join(work, 'nope')],
      { timeoutMs: 30_000 },
    );
    expect(missing.code).toBe(1);
    const line = missing.stderr.trim();
    expect(line.split('\n')).toHaveLength(1);
    expect(line).toMatch(/--session-secret-file .*nope: cannot read the session secret: ENOENT/);
    expect(line).toContain('--token: must be at least 16 characters');
    const short = await runCleave(['console', '--nats-url', nats().url, '--token', TOKEN], {
      env: { CLEAVE_CONSOLE_SESSION_SECRET: 'too-short' },
      timeoutMs: 30_000,
    });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('CLEAVE_CONSOLE_SESSION_SECRET: must be at least 32 characters');
  });
});

describe('login rate limit', () => {
  it('answers 429 with Retry-After after 5 wrong tokens a minute from one address, even for the right token', async () => {
    const proc = await startConsole(['--trust-proxy']);
    try {
      const statuses: number[] = [];
      let retryAfter = '';
      for (let i = 0; i < 10; i++) {
        const res = await postLogin(proc.url, `wrong-token-${i}-xxxxxxxxxxxx`, { 'x-forwarded-for': '203.0.113.7' });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after') ?? '';
      }
      const right = await postLogin(proc.url, TOKEN, { 'x-forwarded-for': '203.0.113.7' });
      // Guessing through the API's bearer header is limited the same way.
      const bearer = await fetch(`${proc.url}/api/fleet`, {
        headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '203.0.113.7' },
      });
      // Another client (as the trusted proxy reports it) is not locked out by the first one's failures.
      const other = await postLogin(proc.url, TOKEN, { 'x-forwarded-for': '203.0.113.8' });
      const count = (s: number) => statuses.filter((x) => x === s).length;
      console.log(
        `wrong tokens from one address: ${statuses.length} sent, ${count(401)} answered 401, ${count(429)} answered 429 ` +
          `(Retry-After ${retryAfter} s); then the right token: ${right.status}, bearer: ${bearer.status}; another address: ${other.status}`,
      );
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
      expect(Number(retryAfter)).toBeGreaterThan(0);
      expect(Number(retryAfter)).toBeLessThanOrEqual(60);
      expect(right.status).toBe(429);
      expect(right.headers.get('retry-after')).not.toBeNull();
      expect(await right.text()).toContain('Too many failed logins');
      expect(bearer.status).toBe(429);
      expect(other.status).toBe(303);
    } finally {
      await stopConsole(proc);
    }
  });

  it('without --trust-proxy, counts the socket address and ignores X-Forwarded-For', async () => {
    const proc = await startConsole();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        // A different forged address on every try: the limit must still hold.
        const res = await postLogin(proc.url, 'wrong-token-xxxxxxxxxxxx', { 'x-forwarded-for': `198.51.100.${i}` });
        statuses.push(res.status);
      }
      console.log(`wrong tokens with a fresh forged X-Forwarded-For each: ${statuses.join(',')}`);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    } finally {
      await stopConsole(proc);
    }
  });
});

describe('Content-Security-Policy and Secure cookies', () => {
  it('sends a CSP on every response, and a Secure cookie only over HTTPS as a trusted proxy reports it', async () => {
    const proxied = await startConsole(['--trust-proxy']);
    const direct = await startConsole();
    const forced = await startConsole(['--secure-cookies']);
    try {
      const { cookie } = await login(direct.url);
      const responses = await Promise.all(
        ['/login', '/', '/api/fleet', '/assets/console.js', '/assets/console.css', '/healthz', '/nope'].flatMap(
          (path) => [
            fetch(`${direct.url}${path}`, { redirect: 'manual' }),
            fetch(`${direct.url}${path}`, { headers: { cookie }, redirect: 'manual' }),
          ],
        ),
      );
      const csp = responses.map((r) => r.headers.get('content-security-policy'));
      const withCsp = csp.filter((v) => v?.includes("script-src 'self'") && v.includes("default-src 'none'")).length;
      // The login page's stylesheet loads before login.
      const css = await fetch(`${direct.url}/assets/console.css`, { redirect: 'manual' });

      const secureOf = async (url: string, headers: Record<string, string> = {}) =>
        /;\s*Secure/i.test((await login(url, headers)).setCookie);
      const viaHttpsProxy = await secureOf(proxied.url, { 'x-forwarded-proto': 'https' });
      const viaHttpProxy = await secureOf(proxied.url, { 'x-forwarded-proto': 'http' });
      const untrustedHeader = await secureOf(direct.url, { 'x-forwarded-proto': 'https' });
      const withFlag = await secureOf(forced.url);
      console.log(
        `CSP present on ${withCsp} of ${responses.length} responses (statuses ${[...new Set(responses.map((r) => r.status))].join(',')}); ` +
          `Secure cookie: https proxy ${viaHttpsProxy}, http proxy ${viaHttpProxy}, untrusted X-Forwarded-Proto ${untrustedHeader}, --secure-cookies ${withFlag}`,
      );
      expect(withCsp).toBe(responses.length);
      expect(csp[0]).toContain("frame-ancestors 'none'");
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toContain('text/css');
      expect([viaHttpsProxy, viaHttpProxy, untrustedHeader, withFlag]).toEqual([true, false, false, true]);
    } finally {
      await Promise.all([proxied, direct, forced].map(stopConsole));
    }
  });

  it('marks the cookie Secure when the request itself came over TLS', async () => {
    const nc: NatsConnection = await connect({ servers: nats().url });
    try {
      const app = await createConsoleApp({
        data: createConsoleData(nc, { prefix: nats().prefix }),
        auth: createConsoleAuth({ token: TOKEN }),
      });
      const over = (origin: string) =>
        app.request(`${origin}/login`, {
          method: 'POST',
          body: new URLSearchParams({ token: TOKEN }),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
      const tls = (await over('https://console.example')).headers.get('set-cookie') ?? '';
      const plain = (await over('http://console.example')).headers.get('set-cookie') ?? '';
      console.log(`Secure cookie over https: ${/Secure/.test(tls)}, over http: ${/Secure/.test(plain)}`);
      expect(tls).toMatch(/;\s*Secure/);
      expect(plain).not.toMatch(/Secure/);
    } finally {
      await nc.close();
    }
  });
});
