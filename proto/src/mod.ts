/**
 * Public entry of the Cleave wire contract. Isomorphic: no NATS client and no `node:` imports.
 * Messages, tensor codecs, subjects and error codes arrive with the wire-protocol issue.
 */

/** Version of the wire protocol that this build speaks. */
export const PROTOCOL_VERSION = 1 as const;
