// The gateway's Prometheus series (prom-client), served as text at
// /-/gateway/metrics (and /metrics without an upstream).
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'dtq_gateway_' });
  const make = (Kind, options) => new Kind({ registers: [registry], ...options });
  return {
    registry,
    requests: make(client.Counter, {
      name: 'dtq_gateway_http_requests_total',
      help: 'HTTP requests by route: graphql, proxy (passed to dtq), own (probes, metrics)',
      labelNames: ['route'],
    }),
    operations: make(client.Counter, {
      name: 'dtq_gateway_graphql_operations_total',
      help: 'GraphQL operations by type and outcome (error: the response carried errors)',
      labelNames: ['operation', 'outcome'],
    }),
    duration: make(client.Histogram, {
      name: 'dtq_gateway_graphql_duration_seconds',
      help: 'Time from a query or mutation arriving to its response, gRPC call included',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    subscriptions: make(client.Gauge, {
      name: 'dtq_gateway_subscriptions',
      help: 'Open GraphQL subscriptions',
    }),
    connections: make(client.Gauge, {
      name: 'dtq_gateway_websocket_connections',
      help: 'Open WebSocket connections',
    }),
    grpcStreams: make(client.Gauge, {
      name: 'dtq_gateway_grpc_streams',
      help: 'Open gRPC watches to dtq (jobUpdated subscribers of one job share one)',
    }),
  };
}
