// How the UI reaches dtq: one endpoint, /graphql, on the page's own origin.
//
// - Queries and mutations: HTTP POST, the API key in the Authorization
//   header (never a cookie, never the URL).
// - Subscriptions: one WebSocket (graphql-transport-ws, the graphql-ws
//   client), the key in connection_init's payload. The socket is opened with
//   the page and kept open (not lazy), so its state is the connection's
//   (connection.ts): it reconnects by itself, with backoff, for as long as the
//   page lives, and graphql-ws subscribes again everything that was running.
//   A ping every few seconds that gets no pong means a dead socket: it is
//   dropped and reopened. A new key restarts the socket, so the server sees it.
import { ApolloLink, HttpLink } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { OperationTypeNode } from "graphql";
import { createClient, type Client } from "graphql-ws";
import type { ConnectionMonitor } from "./connection";
import type { TokenStore } from "./token";

const GRAPHQL_PATH = "/graphql";

const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 5_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;
/** A close code of the application range that graphql-ws retries: "restart with a new key". */
const RESTART_CODE = 4205;

export interface Transport {
  link: ApolloLink;
  dispose(): void;
}

function authHeaders(tokens: TokenStore): Record<string, string> {
  const key = tokens.get();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** The key on every HTTP operation, read when the operation is sent. */
export function authLink(tokens: TokenStore): ApolloLink {
  return new ApolloLink((operation, forward) => {
    operation.setContext(({ headers }) => ({ headers: { ...headers, ...authHeaders(tokens) } }));
    return forward(operation);
  });
}

/** Subscriptions to `socket`, the rest to `http`. */
export function splitLink(socket: ApolloLink, http: ApolloLink): ApolloLink {
  return ApolloLink.split((operation) => operation.operationType === OperationTypeNode.SUBSCRIPTION, socket, http);
}

function sleep(ms: number) {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

export function createSocketClient(options: {
  url: string;
  tokens: TokenStore;
  connection: ConnectionMonitor;
  webSocketImpl?: unknown;
}): { client: Client; restart(): void } {
  const { tokens, connection } = options;
  let socket: WebSocket | undefined;
  let restarting = false;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  const client = createClient({
    url: options.url,
    webSocketImpl: options.webSocketImpl,
    lazy: false,
    retryAttempts: Infinity,
    // Any failure to connect (the server away, a proxy's error) is worth another try.
    shouldRetry: () => true,
    retryWait: async (retries) => {
      const ceiling = Math.min(RETRY_MIN_MS * 2 ** retries, RETRY_MAX_MS);
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    },
    keepAlive: PING_EVERY_MS,
    connectionParams: () => {
      const key = tokens.get();
      return key ? { authorization: `Bearer ${key}` } : {};
    },
    onNonLazyError: (error) => {
      // A close code graphql-ws will not retry (the server refused the protocol itself).
      console.warn("dtq: the GraphQL socket gave up", error);
      connection.reportLost();
    },
    on: {
      opened: (opened) => {
        socket = opened as WebSocket;
      },
      connected: () => {
        restarting = false;
        connection.reportConnected();
      },
      ping: (received) => {
        if (received) return;
        pongTimer = setTimeout(() => {
          client.terminate(); // graphql-ws reconnects after a termination
        }, PONG_WITHIN_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
      closed: () => {
        clearTimeout(pongTimer);
        socket = undefined;
        if (!restarting) connection.reportLost();
      },
    },
  });
  return {
    client,
    restart() {
      if (socket?.readyState === WebSocket.OPEN) {
        restarting = true;
        socket.close(RESTART_CODE, "new API key");
      }
      // Otherwise the socket is (re)connecting, and reads the key when it opens.
    },
  };
}

/** The browser's transport, on the page's origin. */
export function createTransport(tokens: TokenStore, connection: ConnectionMonitor, origin: Location = window.location): Transport {
  const http = new HttpLink({ uri: GRAPHQL_PATH });
  const wsUrl = `${origin.protocol === "https:" ? "wss:" : "ws:"}//${origin.host}${GRAPHQL_PATH}`;
  const socket = createSocketClient({ url: wsUrl, tokens, connection });
  const unsubscribe = tokens.subscribe(() => socket.restart());
  return {
    link: splitLink(new GraphQLWsLink(socket.client), ApolloLink.from([authLink(tokens), http])),
    dispose() {
      unsubscribe();
      void socket.client.dispose();
    },
  };
}
