import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import type { CookieOptions } from 'hono/utils/cookie';
import { isBundleStoreError } from '@cleave/node-runtime';
import { CSRF_HEADER, SESSION_COOKIE, type ConsoleAuth, type Principal } from './console-auth.js';
import { createConsoleApi, type ConsoleEnv } from './console-api.js';
import type { ConsoleData } from './console-data.js';
import { consolePage, loginPage } from './console-page.js';
import { createLoginRateLimiter, type LoginRateLimitOptions } from './login-rate-limit.js';
import { clientAddress, servedOverHttps } from './request-origin.js';
import { createAlertMonitor } from './alerts/alert-monitor.js';
import { createAlertRoutes, createMetricsRoute } from './alerts/alert-routes.js';
import { AlertRulesSchema } from './alerts/alert-rules.js';
import { createAgentRoutes } from './history/agent-routes.js';
import { createPolicyRoutes } from './policy-routes.js';
import { createRolloutRoutes } from './rollouts/rollout-routes.js';

/** What the console app needs; everything else (sockets, env, signals) stays in the CLI. */
export interface ConsoleAppDeps {
  readonly data: ConsoleData;
  readonly auth: ConsoleAuth;
  /** Always set the Secure flag on the session cookie (TLS terminated somewhere the console cannot see). @default false */
  readonly secureCookies?: boolean;
  /**
   * A reverse proxy fronts the console: read the client address from X-Forwarded-For (for the login rate limit) and
   * HTTPS from X-Forwarded-Proto (for the Secure cookie). Off by default, since any client can send those headers.
   * @default false
   */
  readonly trustProxy?: boolean;
  /** Failed logins (or bearer tokens) allowed per client address. @default 5 per minute */
  readonly loginRateLimit?: LoginRateLimitOptions;
  readonly eventIntervalMs?: number;
  /** Alert thresholds (see AlertRulesSchema), validated here. @default every rule's default */
  readonly alertRules?: z.input<typeof AlertRulesSchema>;
  /** Between alert evaluations. @default 2000 */
  readonly alertIntervalMs?: number;
}

/**
 * The page loads only its own script, style and data: no inline code, nothing from other origins, no framing.
 * Chart.js draws on canvases and styles them through the CSSOM, which `style-src 'self'` allows.
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'none'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

const ASSET_DIR = fileURLToPath(new URL('../console-assets/', import.meta.url));
const require = createRequire(import.meta.url);

/** The page's own scripts and styles, served from console-assets/. */
const OWN_ASSETS = [
  'page-lib.js',
  'console.js',
  'bundle-charts.js',
  'policies.js',
  'rollouts.js',
  'alerts.js',
  'console.css',
  'operations.css',
  'agent.js',
  'agent.css',
] as const;

/** Static files of the page: our scripts and styles, and the browser builds of Chart.js and its plugins. */
async function loadAssets(): Promise<Map<string, { body: string; type: string }>> {
  // Each package's exports map hides its browser (UMD) build; it sits next to the CommonJS entry. The literal
  // require.resolve calls also tell knip these packages are used.
  const nextTo = (entry: string, file: string) => join(dirname(entry), file);
  const vendored = new Map([
    ['chart.umd.min.js', nextTo(require.resolve('chart.js'), 'chart.umd.min.js')],
    [
      'chartjs-plugin-annotation.min.js',
      nextTo(require.resolve('chartjs-plugin-annotation'), 'chartjs-plugin-annotation.min.js'),
    ],
    [
      'chartjs-plugin-datalabels.min.js',
      nextTo(require.resolve('chartjs-plugin-datalabels'), 'chartjs-plugin-datalabels.min.js'),
    ],
  ]);
  const assets = new Map<string, { body: string; type: string }>();
  const type = (name: string) => (name.endsWith('.css') ? 'text/css' : 'text/javascript');
  for (const name of OWN_ASSETS)
    assets.set(name, { body: await readFile(`${ASSET_DIR}${name}`, 'utf8'), type: type(name) });
  for (const [name, file] of vendored) assets.set(name, { body: await readFile(file, 'utf8'), type: type(name) });
  return assets;
}

/**
 * The operator console as a Hono app: login, the single-page UI, its assets and the JSON API.
 * Every route except `/healthz`, the login form and the static assets requires a bearer token or a session cookie;
 * cookie-authenticated writes must also carry the CSRF header. Every response carries a Content-Security-Policy.
 */
export async function createConsoleApp(deps: ConsoleAppDeps): Promise<Hono<ConsoleEnv>> {
  const assets = await loadAssets();
  const app = new Hono<ConsoleEnv>();
  const origin = { trustProxy: deps.trustProxy ?? false };
  const limiter = createLoginRateLimiter(deps.loginRateLimit);
  const alertRules = AlertRulesSchema.safeParse(deps.alertRules ?? {});
  if (!alertRules.success) throw new RangeError(`'alertRules' is invalid: ${z.prettifyError(alertRules.error)}`);
  const alerts = createAlertMonitor({
    data: deps.data,
    rules: alertRules.data,
    ...(deps.alertIntervalMs === undefined ? {} : { intervalMs: deps.alertIntervalMs }),
  });
  alerts.start();
  // Logouts recorded by any console sharing the secret (and by this one before a restart) stay revoked.
  await deps.data.followLogouts((logout) => deps.auth.markRevoked(logout.sessionId, logout.expiresAt));
  const cookieOptions = (c: Context<ConsoleEnv>): CookieOptions => ({
    httpOnly: true,
    sameSite: 'Strict',
    secure: deps.secureCookies === true || servedOverHttps(c, origin),
    path: '/',
  });
  // A plain Response, so the login route and the auth middleware (whose context types differ) share it.
  const tooManyFailures = (path: string, retryAfterS: number): Response => {
    const headers = { 'retry-after': String(retryAfterS) };
    return path === '/login'
      ? new Response(loginPage(`Too many failed logins. Try again in ${retryAfterS} s.`), {
          status: 429,
          headers: { ...headers, 'content-type': 'text/html; charset=UTF-8' },
        })
      : Response.json(
          { error: `too many failed logins from this address; retry in ${retryAfterS} s` },
          {
            status: 429,
            headers,
          },
        );
  };

  app.use('*', secureHeaders({ contentSecurityPolicy: CONTENT_SECURITY_POLICY }));
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/login', (c) => c.html(loginPage()));
  app.post('/login', async (c) => {
    const client = clientAddress(c, origin);
    const allowance = limiter.allowance(client);
    if (!allowance.allowed) return tooManyFailures(c.req.path, allowance.retryAfterS);
    const form = await c.req.parseBody();
    const token = typeof form['token'] === 'string' ? form['token'] : undefined;
    const name = typeof form['name'] === 'string' && form['name'].trim() ? form['name'].trim() : 'operator';
    if (!deps.auth.tokenMatches(token)) {
      limiter.recordFailure(client);
      return c.html(loginPage('Wrong token.'), 401);
    }
    limiter.recordSuccess(client);
    setCookie(c, SESSION_COOKIE, deps.auth.issueSession(name), cookieOptions(c));
    return c.redirect('/', 303);
  });
  // Public, so the login page is styled; they hold no data (the page's own code and Chart.js).
  app.get('/assets/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (!asset) return c.notFound();
    return c.body(asset.body, 200, { 'content-type': `${asset.type}; charset=utf-8`, 'cache-control': 'no-cache' });
  });

  app.use('*', async (c, next) => {
    const header = c.req.header('authorization');
    let principal: Principal | undefined;
    if (header?.startsWith('Bearer ')) {
      // A wrong bearer token is a failed login too: otherwise the API would be the way to guess the token.
      const client = clientAddress(c, origin);
      const allowance = limiter.allowance(client);
      if (!allowance.allowed) return tooManyFailures(c.req.path, allowance.retryAfterS);
      if (deps.auth.tokenMatches(header.slice(7))) principal = { name: 'api-token', via: 'bearer' };
      else limiter.recordFailure(client);
    } else {
      // Hono types a middleware's context input as `any`; the value is a plain Context.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-argument
      const cookie = getCookie(c, SESSION_COOKIE);
      principal = deps.auth.verifySession(cookie)?.principal;
      // SameSite=Strict already blocks cross-site cookies; the header check also stops same-site forgeries.
      if (principal && !['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) {
        if (c.req.header(CSRF_HEADER) !== deps.auth.csrfFor(cookie!)) {
          return c.json({ error: `missing or wrong ${CSRF_HEADER} header` }, 403);
        }
      }
    }
    if (!principal) {
      return c.req.path.startsWith('/api/')
        ? c.json({ error: 'authentication required' }, 401)
        : c.redirect('/login', 303);
    }
    c.set('principal', principal);
    await next();
  });

  // The CSRF check above has run: a cross-site page cannot log an operator out. The session is revoked on the
  // server (and recorded, so it stays revoked across restarts and consoles), not only deleted from the browser.
  app.post('/logout', async (c) => {
    const session = deps.auth.revokeSession(getCookie(c, SESSION_COOKIE));
    if (session) {
      await deps.data.recordLogout({
        who: session.principal.name,
        sessionId: session.id,
        expiresAt: session.expiresAt,
      });
    }
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.redirect('/login', 303);
  });
  app.get('/', (c) => c.html(consolePage(deps.auth.csrfFor(getCookie(c, SESSION_COOKIE) ?? ''), c.var.principal.name)));
  app.route('/api', createRolloutRoutes(deps.data));
  app.route('/api', createAlertRoutes(alerts));
  app.route('/', createMetricsRoute(alerts));
  app.route('/api', createPolicyRoutes(deps.data));
  app.route(
    '/',
    createAgentRoutes(deps.data, (c) => deps.auth.csrfFor(getCookie(c, SESSION_COOKIE) ?? '')),
  );
  app.route('/api', createConsoleApi(deps.data, deps.eventIntervalMs ? { eventIntervalMs: deps.eventIntervalMs } : {}));

  app.onError((error, c) => {
    if (isBundleStoreError(error)) {
      const status = error.code === 'not_found' ? 404 : 502;
      return c.json({ error: error.message, code: error.code }, status);
    }
    return c.json({ error: `internal error: ${error.message}` }, 500);
  });
  return app;
}
