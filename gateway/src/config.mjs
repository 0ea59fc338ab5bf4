// The gateway's settings, from the environment only (a container and
// `dtq serve` both hand them over that way). Every one is listed in
// docs/graphql.md.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const gatewayDir = path.resolve(here, '..');

function int(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name}=${raw}: expected a whole number`);
  }
  return value;
}

function bool(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new Error(`${name}=${raw}: expected true or false`);
}

// HOST:PORT (IPv6 in brackets); port 0: any free one.
export function parseListen(value) {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value);
  if (!match) throw new Error(`DTQ_GATEWAY_LISTEN=${value}: expected HOST:PORT`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port: Number(match[3]) };
}

export function readConfig(env = process.env) {
  const protoDirs = [
    env.DTQ_PROTO_DIR,
    path.join(gatewayDir, 'proto'),
    path.resolve(gatewayDir, '..', 'proto'),
  ].filter(Boolean);
  return {
    listen: parseListen(env.DTQ_GATEWAY_LISTEN || '127.0.0.1:8081'),
    grpcTarget: env.DTQ_GRPC_TARGET || '127.0.0.1:9090',
    // dtq's own HTTP port (local mode): what is not /graphql goes there.
    upstream: env.DTQ_GATEWAY_UPSTREAM || '',
    protoDirs,
    schemaFile: env.DTQ_GATEWAY_SCHEMA || path.join(gatewayDir, 'schema.graphql'),
    introspection: bool(env, 'DTQ_GATEWAY_INTROSPECTION', false),
    maxDepth: int(env, 'DTQ_GATEWAY_MAX_DEPTH', 8),
    maxCost: int(env, 'DTQ_GATEWAY_MAX_COST', 1000),
    maxBodyBytes: int(env, 'DTQ_GATEWAY_MAX_BODY_BYTES', 1 << 20),
    maxSubscriptions: int(env, 'DTQ_GATEWAY_MAX_SUBSCRIPTIONS', 20000),
    // A gRPC call that takes longer than this fails with `timeout`.
    callTimeoutMs: int(env, 'DTQ_GATEWAY_CALL_TIMEOUT_MS', 10000),
    logLevel: env.DTQ_GATEWAY_LOG || 'info',
    // The Host names /graphql answers to (DNS rebinding, docs/security.md);
    // empty: any. dtq serve hands over its own list.
    allowedHosts: (env.DTQ_GATEWAY_ALLOWED_HOSTS || '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  };
}
