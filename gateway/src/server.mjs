// The gateway's HTTP face, one port:
//   POST/GET /graphql                 queries and mutations (Apollo Server)
//   WebSocket /graphql                subscriptions, graphql-transport-ws (graphql-ws)
//   /-/gateway/healthz|readyz|metrics the gateway's own probes and metrics
//   everything else                   with DTQ_GATEWAY_UPSTREAM (local mode): passed
//                                     through to dtq's own HTTP port unchanged,
//                                     streamed both ways (the UI, /v1, SSE, ...);
//                                     without (distributed mode): /healthz, /readyz,
//                                     /metrics are the gateway's own, the rest 404.
import http from 'node:http';
import { ApolloServer, HeaderMap } from '@apollo/server';
import { GraphQLError, parse, validate } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { DtqClient } from './dtq_client.mjs';
import { JobWatchHub } from './streams.mjs';
import { buildSchema } from './schema.mjs';
import { allRules, formatError, validationCode, validationRules } from './limits.mjs';
import { createMetrics } from './metrics.mjs';

function jsonReply(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function graphqlErrorReply(res, status, code, message) {
  jsonReply(res, status, { errors: [{ message, extensions: { code } }] });
}

// The request body, or null (and the request answered 413) past `limit`.
function readBody(req, res, limit) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      graphqlErrorReply(res, 413, 'payload_too_large', `the body is over ${limit} bytes`);
      req.resume();
      return resolve(null);
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        graphqlErrorReply(res, 413, 'payload_too_large', `the body is over ${limit} bytes`);
        req.destroy();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// The name in a Host header, as dtq reads it (api/src/access_guard.cpp):
// no port, lower case, no trailing dot; an IPv6 literal keeps its brackets.
function hostName(host) {
  let name = host;
  if (name.startsWith('[')) name = name.slice(0, name.indexOf(']') + 1);
  else if (name.indexOf(':') !== -1 && name.indexOf(':') === name.lastIndexOf(':')) name = name.slice(0, name.indexOf(':'));
  return name.toLowerCase().replace(/\.+$/, '');
}

// Authorization from the WebSocket's connection_init payload.
function authFromConnectionParams(params) {
  if (!params || typeof params !== 'object') return undefined;
  const direct = params.authorization ?? params.Authorization ?? params.headers?.authorization ?? params.headers?.Authorization;
  if (typeof direct === 'string' && direct) return direct;
  const token = params.token ?? params.apiKey ?? params.key;
  if (typeof token === 'string' && token) return `Bearer ${token}`;
  return undefined;
}

export async function startGateway(config) {
  const metrics = createMetrics();
  const client = new DtqClient(config);
  const hub = new JobWatchHub(client, metrics);
  const schema = buildSchema({
    client,
    hub,
    schemaFile: config.schemaFile,
    maxSubscriptions: config.maxSubscriptions,
    metrics,
  });

  const apollo = new ApolloServer({
    schema,
    // Our own rule refuses introspection unless enabled (validationRules).
    introspection: true,
    validationRules: validationRules(config),
    includeStacktraceInErrorResponses: false,
    formatError,
    plugins: [
      {
        async requestDidStart() {
          const started = process.hrtime.bigint();
          return {
            async willSendResponse({ operation, errors }) {
              const type = operation?.operation ?? 'unknown';
              metrics.operations.inc({ operation: type, outcome: errors?.length ? 'error' : 'ok' });
              metrics.duration.observe({ operation: type }, Number(process.hrtime.bigint() - started) / 1e9);
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const upstream = config.upstream ? new URL(config.upstream) : null;
  // A request without a Host (HTTP/1.0) is no browser's: rebinding needs one.
  const hostAllowed = (req) =>
    config.allowedHosts.length === 0 || !req.headers.host || config.allowedHosts.includes(hostName(req.headers.host));
  const hostRefusal = (req) =>
    `this server does not answer to the host "${req.headers.host}" (see --allowed-hosts)`;
  const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  async function handleGraphql(req, res) {
    if (req.method !== 'POST' && req.method !== 'GET') {
      return graphqlErrorReply(res, 405, 'method_not_allowed', 'use POST (or GET for a query)');
    }
    const raw = req.method === 'POST' ? await readBody(req, res, config.maxBodyBytes) : '';
    if (raw === null) return undefined;
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    let body = raw;
    if (req.method === 'POST' && (headers.get('content-type') ?? '').includes('json')) {
      try {
        body = JSON.parse(raw);
      } catch {
        return graphqlErrorReply(res, 400, 'bad_request', 'the body is not valid JSON');
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return graphqlErrorReply(res, 400, 'bad_request', 'the body must be one GraphQL request object');
      }
    }
    const url = new URL(req.url, 'http://gateway');
    const response = await apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: req.method, headers, search: url.search, body },
      context: async () => ({ auth: req.headers.authorization }),
    });
    for (const [name, value] of response.headers) res.setHeader(name, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
    return undefined;
  }

  async function own(path, res) {
    if (path.endsWith('healthz')) return jsonReply(res, 200, { status: 'ok' });
    if (path.endsWith('readyz')) {
      const ready = await client.ready(1000);
      return jsonReply(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'not ready',
        grpc_target: config.grpcTarget,
      });
    }
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    return res.end(text);
  }

  function proxy(req, res) {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress },
        agent: upstreamAgent,
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.statusMessage, answer.headers);
        // Streams (SSE) flow chunk by chunk: nothing here buffers them.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      if (!res.headersSent) {
        jsonReply(res, 502, { error: { code: 'unavailable', message: 'dtq is not answering' } });
      } else {
        res.destroy();
      }
    });
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  }

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    metrics.requests.inc({ route: path === '/graphql' ? 'graphql' : upstream ? 'proxy' : 'own' });
    let handled;
    if (path === '/graphql' && !hostAllowed(req)) return graphqlErrorReply(res, 403, 'forbidden_host', hostRefusal(req));
    if (path === '/graphql') handled = handleGraphql(req, res);
    else if (/^\/-\/gateway\/(healthz|readyz|metrics)$/.test(path)) handled = own(path, res);
    else if (upstream) return proxy(req, res);
    else if (/^\/(healthz|readyz|metrics)$/.test(path) && req.method === 'GET') handled = own(path, res);
    else return jsonReply(res, 404, { error: { code: 'not_found', message: `no route ${path}` } });
    Promise.resolve(handled).catch((error) => {
      console.error(`gateway: ${error.stack ?? error}`);
      if (!res.headersSent) graphqlErrorReply(res, 500, 'internal', 'internal error');
      else res.destroy();
    });
    return undefined;
  });
  server.keepAliveTimeout = 65000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });
  server.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    if (!hostAllowed(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws) => {
    metrics.connections.inc();
    ws.on('close', () => metrics.connections.dec());
  });

  const rules = allRules(config);
  const wsServer = useServer(
    {
      schema,
      onConnect: (ctx) => {
        ctx.extra.auth = authFromConnectionParams(ctx.connectionParams) ?? ctx.extra.request.headers.authorization;
        return true;
      },
      onSubscribe: (ctx, _id, payload) => {
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [new GraphQLError(error.message, { extensions: { code: 'graphql_parse_failed' } })];
        }
        const errors = validate(schema, document, rules);
        if (errors.length > 0) {
          return errors.map((error) => {
            const code = validationCode(error.message);
            const message = code.startsWith('query_too') ? error.message.replace(/^.*?: /, '') : error.message;
            return new GraphQLError(message, { nodes: error.nodes, extensions: { code } });
          });
        }
        return {
          schema,
          document,
          variableValues: payload.variables,
          operationName: payload.operationName,
          contextValue: { auth: ctx.extra.auth },
        };
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return result;
        metrics.operations.inc({ operation: 'subscription', outcome: 'error' });
        return { ...result, errors: result.errors.map((e) => formatError(e.toJSON ? e.toJSON() : e, e)) };
      },
    },
    wss,
  );

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, resolve);
  });
  const address = server.address();

  return {
    port: address.port,
    host: address.address,
    async close() {
      for (const socket of wss.clients) socket.close(1001, 'Going away');
      await wsServer.dispose().catch(() => {});
      await new Promise((resolve) => server.close(resolve));
      server.closeAllConnections?.();
      upstreamAgent.destroy();
      await apollo.stop();
      client.close();
    },
  };
}
