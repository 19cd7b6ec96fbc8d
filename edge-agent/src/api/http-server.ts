// Listening, port 0, IPv6 URLs and closing open connections are the same for every Cleave HTTP server: the cloud
// service's health server does it for the agent's local API too.
export { startHealthServer as startHttpServer, type HealthServer as HttpServer } from '@cleave/cloud-service';
