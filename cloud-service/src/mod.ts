/** Public entry of @cleave/cloud-service. Its runtime arrives with its own issue. */
export { PROTOCOL_VERSION } from '@cleave/proto';
