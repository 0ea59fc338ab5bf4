// The services every page uses, in one React context so tests can hand in
// doubles: the API client, the token, the connection monitor, EventSource.
import { createContext, useContext, useEffect, useSyncExternalStore, type ReactNode } from "react";
import { DtqApi } from "./client";
import { ConnectionMonitor, type ConnectionSnapshot } from "./connection";
import { browserEventSource, type EventSourceFactory } from "./events";
import { TokenStore } from "./token";

export interface Services {
  api: DtqApi;
  tokens: TokenStore;
  connection: ConnectionMonitor;
  eventSource: EventSourceFactory;
}

export function createServices(overrides: { fetch?: typeof fetch; eventSource?: EventSourceFactory; storage?: Storage } = {}): Services {
  const tokens = new TokenStore(overrides.storage);
  let api: DtqApi | undefined;
  const connection = new ConnectionMonitor(() => api!.alive());
  api = new DtqApi({ tokens, connection, fetch: overrides.fetch });
  return { api, tokens, connection, eventSource: overrides.eventSource ?? browserEventSource };
}

const ServicesContext = createContext<Services | null>(null);

export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  useEffect(() => () => services.connection.dispose(), [services]);
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
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
