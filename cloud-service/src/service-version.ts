/** Version of the tail service, reported in $SRV.INFO. */
export const CLOUD_SERVICE_VERSION = '0.1.0';
