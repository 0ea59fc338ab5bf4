// Test doubles: a GraphQL server behind an Apollo link (queries and
// mutations answered by operation name, subscriptions the test drives), a
// connection monitor the test drives, and a render() with the app's services
// and a router.
import { ApolloLink } from "@apollo/client";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter } from "react-router";
import { Observable, type Observer } from "rxjs";
import { createServices, ServicesProvider, type Services } from "../api/context";
import { TokenPromptProvider } from "../components/TokenDialog";
import type { JobStatus, JobType } from "../api/types";

type Result = { data?: unknown; errors?: unknown[] };
type Handler = (variables: Record<string, unknown>, headers: Record<string, string>) => Result | Promise<Result>;

/** A GraphQL error as the gateway sends it: extensions.code, and details for field errors. */
export function gqlError(code: string, message = code, details?: { field: string; message: string }[]): Result {
  return { errors: [{ message, extensions: details ? { code, details } : { code } }] };
}

export class FakeSubscription {
  closed = false;
  constructor(
    readonly operationName: string,
    readonly variables: Record<string, unknown>,
    private readonly observer: Observer<Result>,
  ) {}

  /** One event: the subscription field's value. */
  emit(field: string, value: unknown) {
    this.observer.next({ data: { [field]: value } });
  }

  /** An error in the GraphQL shape (e.g. unknown_job): the subscription ends with it. */
  fail(result: Result) {
    this.observer.next(result);
    this.observer.complete();
  }

  complete() {
    this.observer.complete();
  }
}

/** The server: `handlers` by operation name; unknown operations fail as the gateway would. */
export class FakeGraphQL {
  readonly calls: { operationName: string; variables: Record<string, unknown>; headers: Record<string, string> }[] = [];
  readonly subscriptions: FakeSubscription[] = [];
  readonly link: ApolloLink;

  constructor(readonly handlers: Record<string, Handler | Result>) {
    this.link = new ApolloLink(
      (operation) =>
        new Observable<Result>((observer) => {
          const name = operation.operationName ?? "";
          const variables = operation.variables as Record<string, unknown>;
          if (operation.operationType === "subscription") {
            const subscription = new FakeSubscription(name, variables, observer);
            this.subscriptions.push(subscription);
            return () => {
              subscription.closed = true;
            };
          }
          const headers = (operation.getContext().headers ?? {}) as Record<string, string>;
          this.calls.push({ operationName: name, variables, headers });
          const handler = this.handlers[name];
          Promise.resolve(typeof handler === "function" ? handler(variables, headers) : (handler ?? gqlError("graphql_validation_failed", `no ${name}`))).then(
            (result) => {
              observer.next(result);
              observer.complete();
            },
            (error: unknown) => observer.error(error),
          );
          return undefined;
        }) as never,
    );
  }

  callsOf(operationName: string) {
    return this.calls.filter((call) => call.operationName === operationName);
  }

  latest(operationName: string): FakeSubscription {
    const found = this.subscriptions.filter((s) => s.operationName === operationName).at(-1);
    if (!found) throw new Error(`no ${operationName} subscription was started`);
    return found;
  }
}

export function renderApp(ui: ReactElement, options: { route?: string; server: FakeGraphQL; token?: string; online?: boolean }) {
  const services: Services = createServices({ link: options.server.link, storage: localStorage });
  if (options.token) services.tokens.set(options.token);
  if (options.online ?? true) services.connection.reportConnected();
  const result = render(
    <ServicesProvider services={services}>
      <MemoryRouter initialEntries={[options.route ?? "/"]}>
        <TokenPromptProvider>{ui}</TokenPromptProvider>
      </MemoryRouter>
    </ServicesProvider>,
  );
  return { ...result, services };
}

export const JOB_ID = "9b20fde8-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

export function status(overrides: Partial<JobStatus> = {}): JobStatus {
  return {
    __typename: "JobStatus",
    jobId: JOB_ID,
    jobType: "weather",
    state: "RUNNING",
    progressPercent: 0,
    updatedAt: "2026-01-02T03:04:05.000Z",
    message: "",
    traceId: null,
    errorCode: null,
    errorMessage: null,
    attempt: 1,
    priority: "NORMAL",
    runAt: null,
    ...overrides,
  };
}

/** A page of the jobs listing. */
export function jobsPage(nodes: JobStatus[], endCursor: string | null = null) {
  return {
    data: {
      jobs: {
        __typename: "JobConnection" as const,
        nodes,
        pageInfo: { __typename: "PageInfo" as const, hasNextPage: endCursor !== null, endCursor },
      },
    },
  };
}

export const WEATHER_TYPE: JobType = {
  __typename: "JobType",
  jobType: "weather",
  name: "Weather",
  version: "1.0.0",
  description: "Current weather in a city.",
  abiVersion: "1.0",
  concurrency: 8,
  pools: 1,
  inFlight: 0,
  healthy: true,
  paused: false,
  payloadSchema: {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "Weather",
    type: "object",
    properties: {
      city: { title: "City", type: "string", minLength: 1, examples: ["Austin"] },
      country_code: { title: "Country", type: "string", pattern: "^[A-Za-z]{2}$", examples: ["US"] },
      units: { title: "Units", type: "string", enum: ["metric", "imperial"], default: "metric" },
    },
    required: ["city"],
    additionalProperties: false,
  },
};

/** A type no UI code knows about, as a third party's plugin would bring. */
export const DICE_TYPE: JobType = {
  __typename: "JobType",
  jobType: "dice",
  name: "Dice roller",
  version: "0.3.1",
  description: "Rolls dice.",
  abiVersion: "1.0",
  concurrency: 2,
  pools: 1,
  inFlight: 0,
  healthy: true,
  paused: false,
  payloadSchema: {
    type: "object",
    properties: {
      sides: { title: "Sides", type: "integer", minimum: 2, maximum: 100 },
      count: { title: "How many", type: "integer", minimum: 1, default: 1 },
      label: { title: "Label", type: "string" },
    },
    required: ["sides"],
  },
};

export const jobTypes = (...types: JobType[]) => ({ data: { jobTypes: types } });
