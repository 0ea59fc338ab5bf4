// The Apollo Client the pages use, and what a failed operation means.
//
// Every failure becomes an ApiError: the GraphQL error's extensions.code
// (the REST API's codes: invalid_payload with its field errors, unauthorized,
// rate_limited, ...; docs/graphql.md), `network` when the server could not
// be reached, `http_<status>` for an answer in another shape.
import { ApolloClient, ApolloLink, InMemoryCache, type FieldMergeFunction } from "@apollo/client";
import { CombinedGraphQLErrors, ServerError } from "@apollo/client/errors";
import { isTerminal, type FieldError, type JobState } from "./types";

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: FieldError[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

interface WireError {
  message?: string;
  extensions?: { code?: unknown; details?: unknown };
}

function fromWire(error: WireError | undefined, fallbackCode: string, fallbackMessage: string): ApiError {
  const code = typeof error?.extensions?.code === "string" ? error.extensions.code : fallbackCode;
  const details = Array.isArray(error?.extensions?.details)
    ? (error.extensions.details as unknown[]).filter(
        (d): d is FieldError => !!d && typeof (d as FieldError).field === "string" && typeof (d as FieldError).message === "string",
      )
    : [];
  return new ApiError(code, error?.message || fallbackMessage, details);
}

/** The ApiError an operation failed with, whatever shape it came in. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (CombinedGraphQLErrors.is(error)) return fromWire(error.errors[0], "internal", error.message);
  if (ServerError.is(error)) {
    // The gateway refuses some requests before GraphQL runs (413, 400), in
    // the GraphQL error shape; anything else is someone else's answer.
    let body: { errors?: WireError[] } | undefined;
    try {
      body = JSON.parse(error.bodyText) as { errors?: WireError[] };
    } catch {
      body = undefined;
    }
    if (Array.isArray(body?.errors) && body.errors[0]) return fromWire(body.errors[0], `http_${error.statusCode}`, error.message);
    // The page came from a server with no GraphQL gateway in front of it.
    if (error.statusCode === 404 || error.statusCode === 405) return new ApiError("no_graphql", "no /graphql on this server");
    if (error.statusCode === 502 || error.statusCode === 503 || error.statusCode === 504) {
      return new ApiError("network", `the server answered ${error.statusCode}`);
    }
    return new ApiError(`http_${error.statusCode}`, error.bodyText.trim() || error.message);
  }
  // fetch's TypeError, or the WebSocket closing under a subscription.
  if (error instanceof TypeError || (error instanceof Error && /socket|network|fetch/i.test(error.message))) {
    return new ApiError("network", error.message);
  }
  return new ApiError("internal", error instanceof Error ? error.message : String(error));
}

/** A sentence for a person, for any error an operation can end with. */
export function describeError(raw: unknown): string {
  const error = toApiError(raw);
  switch (error.code) {
    case "network":
      return "Cannot reach the dtq server. It may have stopped, or the network is down; retrying by itself.";
    case "no_graphql":
      return "This address serves no GraphQL API at /graphql. Open the UI at the address dtq serve prints (its GraphQL gateway), or run the gateway in front of dtq api (docs/graphql.md).";
    case "unauthorized":
      return "This server needs an API key: the one dtq serve printed when it first started, or one made with dtq keys create.";
    case "forbidden":
      return `This API key may not do that: ${error.message}`;
    case "rate_limited":
      return "Too many submissions right now; wait a moment and try again.";
    case "too_many_streams":
      return "The server has too many open live streams; try again shortly.";
    case "unavailable":
      return `The server is not ready: ${error.message}`;
    default:
      return error.message || "The server refused the request.";
  }
}

// A job's state as the cache keeps it: a terminal state is final, so a
// cancel's reply (still RUNNING) or an event that arrives after the end is
// older news and does not undo it.
const keepTerminal: FieldMergeFunction<JobState, JobState> = (existing, incoming) =>
  existing && isTerminal(existing) && !isTerminal(incoming) ? existing : incoming;

/**
 * The cache: a job's status is one entry (JobStatus:{jobId}), whichever
 * operation brought it, so a pushed update shows in every list and page that
 * holds that job.
 */
export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      JobStatus: { keyFields: ["jobId"], fields: { state: { merge: keepTerminal } } },
      JobResult: { keyFields: ["jobId"] },
      JobType: { keyFields: ["jobType"] },
      // Listings are read whole, page by page: each (filters, cursor) is its own entry.
      JobConnection: { keyFields: false },
    },
  });
}

export function createApolloClient(link: ApolloLink): ApolloClient {
  return new ApolloClient({
    link,
    cache: createCache(),
    defaultOptions: {
      watchQuery: { fetchPolicy: "cache-and-network" },
    },
  });
}
