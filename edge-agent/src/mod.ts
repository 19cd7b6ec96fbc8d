/** Public entry of @cleave/edge-agent. Its runtime arrives with its own issue. */
export { PROTOCOL_VERSION } from '@cleave/proto';
