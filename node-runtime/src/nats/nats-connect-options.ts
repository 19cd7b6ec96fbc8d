import { readFile } from 'node:fs/promises';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import type { natsSettingsObject } from '@cleave/proto';
import type { z } from 'zod';
import { ConfigError } from '../config/config-error.js';
import { credsUserName, inboxPrefixFor } from './client-inbox.js';

/** The `nats` section of the configuration: servers, one authentication method, TLS. */
export type NatsClientSettings = z.output<ReturnType<typeof natsSettingsObject>>;

/**
 * NATS connection options: servers, user/pass, token, nkey seed or creds file, TLS, and the client's own inbox
 * prefix. Credential files are read here, so a missing one is a ConfigError before any connection is tried.
 * `clientName` shows in the server's connection list. The inbox prefix is `nats.inboxPrefix` when set, else
 * `_INBOX.<identity>` where the identity is the one the server's grants are written for: the user name, the creds
 * file's JWT user name, then `identity` (an agent id) and last `clientName` (see client-inbox.ts).
 */
export async function natsConnectOptions(
  nats: NatsClientSettings,
  clientName: string,
  identity?: string,
): Promise<NodeConnectionOptions> {
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
    name: clientName,
    // A daemon outlives NATS restarts: keep reconnecting rather than exiting.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  };
  if (nats.user !== undefined) options.user = nats.user;
  if (nats.pass !== undefined) options.pass = nats.pass;
  if (nats.token !== undefined) options.token = nats.token;
  let credsName: string | undefined;
  if (nats.credsFile !== undefined) {
    const creds = await read(nats.credsFile, 'credsFile');
    if (creds !== undefined) {
      options.authenticator = credsAuthenticator(creds);
      credsName = credsUserName(creds);
    }
  }
  if (nats.nkeySeedFile !== undefined) {
    const seed = await read(nats.nkeySeedFile, 'nkeySeedFile');
    if (seed !== undefined)
      options.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(seed).trim()));
  }
  if (nats.tls !== undefined) {
    options.tls = {
      handshakeFirst: nats.tls.handshakeFirst,
      ...(nats.tls.caFile === undefined ? {} : { caFile: nats.tls.caFile }),
      ...(nats.tls.certFile === undefined ? {} : { certFile: nats.tls.certFile }),
      ...(nats.tls.keyFile === undefined ? {} : { keyFile: nats.tls.keyFile }),
    };
  }
  // @nats-io/jetstream, kv and obj take their reply and delivery subjects from this option too (JetStream API
  // answers, ordered consumers of KV watches and object reads), as do $SRV discovery requests.
  options.inboxPrefix = nats.inboxPrefix ?? inboxPrefixFor(nats.user ?? credsName ?? identity ?? clientName);
  if (problems.length > 0) throw new ConfigError(problems);
  return options;
}

/** The first connection to NATS failed; the message names the servers tried. */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
}

/** Connects with {@link natsConnectOptions}; a failure is a {@link NatsConnectError} naming the servers. */
export async function connectNats(
  nats: NatsClientSettings,
  clientName: string,
  identity?: string,
): Promise<NatsConnection> {
  const options = await natsConnectOptions(nats, clientName, identity);
  try {
    return await connect(options);
  } catch (error) {
    // nats.js says only `connection refused`: name the servers and how to point elsewhere.
    const reason = error instanceof Error ? error.message : String(error);
    throw new NatsConnectError(
      `cannot connect to NATS at ${nats.servers.join(', ')}: ${reason} (set --nats-url or NATS_URL)`,
      { cause: error },
    );
  }
}
