#!/usr/bin/env node
// dtq-gateway: dtq's GraphQL API (docs/graphql.md). Settings come from the
// environment (src/config.mjs). Prints `GATEWAY_LISTENING http://HOST:PORT`
// on stdout once it serves (what `dtq serve` waits for); SIGTERM or SIGINT
// closes the subscriptions and exits. Exit status 78 (EX_CONFIG): it cannot
// run as configured, and starting it again would not help (dtq serve then
// stops restarting it).
const EX_CONFIG = 78;
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`dtq-gateway: Node.js ${process.versions.node} is too old; the gateway needs 20.19 or newer`);
  process.exit(EX_CONFIG);
}
const { readConfig } = await import('./config.mjs');
const { startGateway } = await import('./server.mjs');

let config;
try {
  config = readConfig();
} catch (error) {
  console.error(`dtq-gateway: ${error.message}`);
  process.exit(EX_CONFIG);
}

let gateway;
try {
  gateway = await startGateway(config);
} catch (error) {
  console.error(`dtq-gateway: cannot start: ${error.message}`);
  process.exit(1);
}
const host = gateway.host.includes(':') ? `[${gateway.host}]` : gateway.host;
console.log(`GATEWAY_LISTENING http://${host}:${gateway.port}`);
console.error(
  `dtq-gateway: /graphql at http://${host}:${gateway.port} over gRPC ${config.grpcTarget}` +
    (config.upstream ? `, the rest passed to ${config.upstream}` : ''),
);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`dtq-gateway: ${signal}; closing`);
  const timer = setTimeout(() => process.exit(0), 3000);
  timer.unref();
  await gateway.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// A stray fault is logged, never a crash of every subscription at once.
process.on('uncaughtException', (error) => console.error(`dtq-gateway: uncaught: ${error.stack ?? error}`));
process.on('unhandledRejection', (error) => console.error(`dtq-gateway: unhandled: ${error?.stack ?? error}`));
