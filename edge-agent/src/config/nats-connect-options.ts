import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { ConfigError, type ConnectRetry, connectWithRetry, natsConnectOptions } from '@cleave/node-runtime';
import type { EdgeConfig } from './edge-config-schema.js';
import { EdgeConfigError } from './resolve-edge-config.js';

/**
 * NATS connection options for an agent: the daemons' shared ones (servers, one authentication method, TLS, credential
 * files read now so a missing one is an EdgeConfigError before any connection is tried), plus reconnects at the
 * agent's own pace that never give up (a gateway outlives any outage). Without a user name or creds, the agent id
 * names its inbox prefix. Requests build no error objects up front for their callers' stacks (`noAsyncTraces`):
 * nats.js otherwise makes two per request, a RequestError and a TimeoutError, whether or not the request fails,
 * and on a slow gateway each offload paid for their stack captures. Failures keep the same classes and messages.
 */
export async function edgeNatsOptions(config: Pick<EdgeConfig, 'nats' | 'agentId'>): Promise<NodeConnectionOptions> {
  try {
    const options = await natsConnectOptions(config.nats, `${config.nats.name}:${config.agentId}`, config.agentId);
    return { ...options, reconnectTimeWait: config.nats.reconnectWaitMs, noAsyncTraces: true };
  } catch (error) {
    if (error instanceof ConfigError) throw new EdgeConfigError(error.issues);
    throw error;
  }
}

/**
 * Connects with options from {@link edgeNatsOptions}, so an agent started offline connects later: it retries every
 * `reconnectWaitMs`, telling `onRetry` about each failed attempt, and rejects only on refused credentials.
 */
export function connectEdgeNats(
  options: NodeConnectionOptions,
  onRetry: (retry: ConnectRetry) => void,
): Promise<NatsConnection> {
  return connectWithRetry(options, { onRetry });
}
