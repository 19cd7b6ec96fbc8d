import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import type { EdgeConfig } from './edge-config-schema.js';
import { EdgeConfigError } from './resolve-edge-config.js';

/**
 * NATS connection options for an agent: servers, one authentication method, TLS, and reconnects that never give
 * up (a gateway outlives any outage). Credential files are read here, so a missing one is an EdgeConfigError
 * before any connection is tried. `waitOnFirstConnect` lets an agent started offline connect later.
 */
export async function edgeNatsOptions(config: Pick<EdgeConfig, 'nats' | 'agentId'>): Promise<NodeConnectionOptions> {
  const { nats } = config;
  const problems: string[] = [];
  const read = async (path: string, field: string): Promise<Uint8Array | undefined> => {
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      problems.push(`nats.${field}: cannot read ${path}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const options: NodeConnectionOptions = {
    servers: [...nats.servers],
    name: `${nats.name}:${config.agentId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: nats.reconnectWaitMs,
    waitOnFirstConnect: true,
  };
  if (nats.user !== undefined) options.user = nats.user;
  if (nats.pass !== undefined) options.pass = nats.pass;
  if (nats.token !== undefined) options.token = nats.token;
  if (nats.credsFile !== undefined) {
    const creds = await read(nats.credsFile, 'credsFile');
    if (creds !== undefined) options.authenticator = credsAuthenticator(creds);
  }
  if (nats.nkeySeedFile !== undefined) {
    const seed = await read(nats.nkeySeedFile, 'nkeySeedFile');
    if (seed !== undefined) {
      options.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(seed).trim()));
    }
  }
  if (nats.tls !== undefined) {
    options.tls = {
      handshakeFirst: nats.tls.handshakeFirst,
      ...(nats.tls.caFile === undefined ? {} : { caFile: nats.tls.caFile }),
      ...(nats.tls.certFile === undefined ? {} : { certFile: nats.tls.certFile }),
      ...(nats.tls.keyFile === undefined ? {} : { keyFile: nats.tls.keyFile }),
    };
  }
  if (problems.length > 0) throw new EdgeConfigError(problems);
  return options;
}

/** Connects with options from {@link edgeNatsOptions}; with `waitOnFirstConnect` it resolves on the first success. */
export function connectEdgeNats(options: NodeConnectionOptions): Promise<NatsConnection> {
  return connect(options);
}
