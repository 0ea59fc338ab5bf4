// The container's HEALTHCHECK: GET /healthz on the gateway's own port
// (DTQ_GATEWAY_LISTEN); exits 0 when it answers 200. Node's fetch, so the
// image needs no curl.
const listen = process.env.DTQ_GATEWAY_LISTEN || '127.0.0.1:8081';
const port = listen.slice(listen.lastIndexOf(':') + 1);
try {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) });
  process.exit(response.ok ? 0 : 1);
} catch {
  process.exit(1);
}
