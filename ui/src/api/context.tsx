// The services every page uses, in one React context so tests can hand in
// doubles: the Apollo Client (over transport.ts in the browser), the key,
// and the connection monitor; and the Apollo provider for the hooks.
import { ApolloLink, type ApolloClient } from "@apollo/client";
import { ApolloProvider } from "@apollo/client/react";
import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from "react";
import { createApolloClient } from "./client";
import { ConnectionMonitor, type ConnectionSnapshot } from "./connection";
import { TokenStore } from "./token";
import { authLink, createTransport } from "./transport";

export interface Services {
  client: ApolloClient;
  tokens: TokenStore;
  connection: ConnectionMonitor;
  dispose(): void;
}

/**
 * The services: over the browser's transport on the page's origin, or over
 * `link` (a test's server, which gets the Authorization header as HTTP would). What is shown is read again when the key
 * changes (a read refused for want of one succeeds then) and when the
 * connection comes back (what was pushed meanwhile was missed).
 */
export function createServices(overrides: { link?: ApolloLink; storage?: Storage; connection?: ConnectionMonitor } = {}): Services {
  const tokens = new TokenStore(overrides.storage);
  const connection = overrides.connection ?? new ConnectionMonitor();
  const transport = overrides.link ? undefined : createTransport(tokens, connection);
  const client = createApolloClient(transport ? transport.link : ApolloLink.from([authLink(tokens), overrides.link!]));
  const refetch = () => void client.refetchQueries({ include: "active" }).catch(() => {});
  let epoch = connection.get().epoch;
  const stopTokens = tokens.subscribe(refetch);
  const stopConnection = connection.subscribe(() => {
    if (connection.get().epoch === epoch) return;
    epoch = connection.get().epoch;
    refetch();
  });
  return {
    client,
    tokens,
    connection,
    dispose() {
      stopTokens();
      stopConnection();
      connection.dispose();
      transport?.dispose();
      client.stop();
    },
  };
}

const ServicesContext = createContext<Services | null>(null);

export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  useEffect(() => () => services.connection.dispose(), [services]);
  return (
    <ServicesContext.Provider value={services}>
      <ApolloProvider client={services.client}>{children}</ApolloProvider>
    </ServicesContext.Provider>
  );
}

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesProvider");
  return services;
}

export function useToken(): string {
  const { tokens } = useServices();
  return useSyncExternalStore(tokens.subscribe, tokens.get);
}

export function useConnection(): ConnectionSnapshot {
  const { connection } = useServices();
  return useSyncExternalStore(connection.subscribe, connection.get);
}
