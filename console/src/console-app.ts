import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { isBundleStoreError } from '@cleave/node-runtime';
import { CSRF_HEADER, SESSION_COOKIE, type ConsoleAuth, type Principal } from './console-auth.js';
import { createConsoleApi, type ConsoleEnv } from './console-api.js';
import type { ConsoleData } from './console-data.js';
import { consolePage, loginPage } from './console-page.js';

/** What the console app needs; everything else (sockets, env, signals) stays in the CLI. */
export interface ConsoleAppDeps {
  readonly data: ConsoleData;
  readonly auth: ConsoleAuth;
  /** Set the Secure flag on the session cookie (behind TLS). @default false */
  readonly secureCookies?: boolean;
  readonly eventIntervalMs?: number;
}

const ASSET_DIR = fileURLToPath(new URL('../console-assets/', import.meta.url));
const require = createRequire(import.meta.url);

/** Static files of the page: our script and style, and Chart.js's browser build from node_modules. */
async function loadAssets(): Promise<Map<string, { body: string; type: string }>> {
  // chart.js's exports map hides its browser build; it sits next to the CommonJS entry.
  const chart = join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  return new Map([
    ['console.js', { body: await readFile(`${ASSET_DIR}console.js`, 'utf8'), type: 'text/javascript' }],
    ['console.css', { body: await readFile(`${ASSET_DIR}console.css`, 'utf8'), type: 'text/css' }],
    ['chart.umd.min.js', { body: await readFile(chart, 'utf8'), type: 'text/javascript' }],
  ]);
}

/**
 * The operator console as a Hono app: login, the single-page UI, its assets and the JSON API.
 * Every route except `/healthz` and the login form requires a bearer token or a session cookie;
 * cookie-authenticated writes must also carry the CSRF header.
 */
export async function createConsoleApp(deps: ConsoleAppDeps): Promise<Hono<ConsoleEnv>> {
  const assets = await loadAssets();
  const app = new Hono<ConsoleEnv>();

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/login', (c) => c.html(loginPage()));
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form['token'] === 'string' ? form['token'] : undefined;
    const name = typeof form['name'] === 'string' && form['name'].trim() ? form['name'].trim() : 'operator';
    if (!deps.auth.tokenMatches(token)) return c.html(loginPage('Wrong token.'), 401);
    setCookie(c, SESSION_COOKIE, deps.auth.issueSession(name), {
      httpOnly: true,
      sameSite: 'Strict',
      secure: deps.secureCookies ?? false,
      path: '/',
    });
    return c.redirect('/', 303);
  });

  app.use('*', async (c, next) => {
    const header = c.req.header('authorization');
    let principal: Principal | undefined;
    if (header?.startsWith('Bearer ')) {
      if (deps.auth.tokenMatches(header.slice(7))) principal = { name: 'api-token', via: 'bearer' };
    } else {
      // Hono types a middleware's context input as `any`; the value is a plain Context.
      // eslint-disable-next-line @typescript-eslint/no-unsafe-argument
      const cookie = getCookie(c, SESSION_COOKIE);
      principal = deps.auth.verifySession(cookie);
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

  app.post('/logout', (c) => {
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
  app.get('/', (c) => c.html(consolePage(deps.auth.csrfFor(getCookie(c, SESSION_COOKIE) ?? ''), c.var.principal.name)));
  app.get('/assets/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (!asset) return c.notFound();
    return c.body(asset.body, 200, { 'content-type': `${asset.type}; charset=utf-8`, 'cache-control': 'no-cache' });
  });
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
