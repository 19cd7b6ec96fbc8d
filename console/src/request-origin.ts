// Who is on the other end of a request, and over what: the login rate limit counts per client address, and the
// session cookie is marked Secure over TLS. Behind a reverse proxy both facts arrive in X-Forwarded-* headers,
// which anyone can send, so they are read only when the operator says a proxy is there (`--trust-proxy`).

/** What these functions read of a Hono context (any app's: its env and variables do not matter here). */
export interface RequestFacts {
  readonly env: unknown;
  readonly req: { readonly url: string; header(name: string): string | undefined };
}

/** How the console is reached. */
export interface OriginOptions {
  /** A reverse proxy that sets X-Forwarded-For and X-Forwarded-Proto fronts the console. @default false */
  readonly trustProxy?: boolean;
}

/** The last entry of a comma-separated forwarding header: the one the trusted proxy itself added. */
function lastForwarded(value: string | undefined): string | undefined {
  const last = value?.split(',').at(-1)?.trim();
  return last ? last : undefined;
}

/** The socket's peer address under @hono/node-server, which passes the Node request as `c.env.incoming`. */
function socketAddress(c: RequestFacts): string | undefined {
  const env: unknown = c.env;
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined;
  const incoming = env.incoming as { socket?: { remoteAddress?: unknown } } | undefined;
  const address = incoming?.socket?.remoteAddress;
  return typeof address === 'string' ? address : undefined;
}

/** The client's address: the proxy's X-Forwarded-For when trusted, else the socket's peer ('unknown' without a socket). */
export function clientAddress(c: RequestFacts, options: OriginOptions): string {
  const forwarded = options.trustProxy ? lastForwarded(c.req.header('x-forwarded-for')) : undefined;
  return forwarded ?? socketAddress(c) ?? 'unknown';
}

/** Whether the browser reached the console over HTTPS: directly, or through a trusted proxy that says so. */
export function servedOverHttps(c: RequestFacts, options: OriginOptions): boolean {
  if (new URL(c.req.url).protocol === 'https:') return true;
  return options.trustProxy === true && lastForwarded(c.req.header('x-forwarded-proto'))?.toLowerCase() === 'https';
}
