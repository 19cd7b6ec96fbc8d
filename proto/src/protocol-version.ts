/** Version of the wire protocol that this build speaks. Every message carries it as `v`. */
export const PROTOCOL_VERSION = 1 as const;
