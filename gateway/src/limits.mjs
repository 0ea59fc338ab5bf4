// What every operation is checked against before it runs, on HTTP and on
// WebSocket alike: graphql-js's own rules, a depth limit and a cost limit
// (GraphQL Armor's validation rules), and no introspection unless enabled.
// And the one mapping of any error to dtq's `extensions.code`.
import { GraphQLError, NoSchemaIntrospectionCustomRule, specifiedRules } from 'graphql';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';

const TOO_DEEP = 'query_too_deep';
const TOO_COMPLEX = 'query_too_complex';

// Armor's rules throw by default, which Apollo takes for an internal error:
// they report through the validation context instead, with dtq's code as
// the message's prefix (formatError turns it into extensions.code).
function reportAs(code) {
  return [(context, error) => context.reportError(new GraphQLError(`${code}: ${error.message.replace(/^Syntax Error: /, '')}`))];
}

export function validationRules(config) {
  const rules = [
    maxDepthRule({
      n: config.maxDepth,
      exposeLimits: true,
      propagateOnRejection: false,
      onReject: reportAs(TOO_DEEP),
    }),
    costLimitRule({
      maxCost: config.maxCost,
      exposeLimits: true,
      propagateOnRejection: false,
      onReject: reportAs(TOO_COMPLEX),
    }),
  ];
  if (!config.introspection) rules.push(NoSchemaIntrospectionCustomRule);
  return rules;
}

export function allRules(config) {
  return [...specifiedRules, ...validationRules(config)];
}

// Apollo's and graphql-js's codes for requests refused before they run.
const APOLLO_CODES = {
  GRAPHQL_PARSE_FAILED: 'graphql_parse_failed',
  GRAPHQL_VALIDATION_FAILED: 'graphql_validation_failed',
  BAD_USER_INPUT: 'invalid_argument',
  BAD_REQUEST: 'bad_request',
  OPERATION_RESOLUTION_FAILURE: 'graphql_validation_failed',
  PERSISTED_QUERY_NOT_FOUND: 'bad_request',
  PERSISTED_QUERY_NOT_SUPPORTED: 'bad_request',
};

// dtq's code for an error of a validation rule, from its message.
export function validationCode(message) {
  if (message.includes(TOO_DEEP)) return TOO_DEEP;
  if (message.includes(TOO_COMPLEX)) return TOO_COMPLEX;
  if (message.includes('introspection has been disabled')) return 'introspection_disabled';
  return 'graphql_validation_failed';
}

// A formatted error (its JSON) with dtq's code; internals never leak.
export function formatError(formatted, error) {
  const original = error?.originalError ?? error;
  let code = formatted.extensions?.code;
  const extensions = { ...formatted.extensions };
  delete extensions.stacktrace;
  let message = formatted.message;
  if (code === 'GRAPHQL_VALIDATION_FAILED') {
    code = validationCode(message);
    if (code === TOO_DEEP || code === TOO_COMPLEX) message = message.replace(/^.*?: /, '');
  } else if (code in APOLLO_CODES) {
    code = APOLLO_CODES[code];
  } else if (!code || code === 'INTERNAL_SERVER_ERROR') {
    if (original && !(original instanceof GraphQLError)) {
      console.error(`gateway: internal error: ${original.stack ?? original}`);
      message = 'internal error';
    }
    code = 'internal';
  }
  extensions.code = code;
  return { ...formatted, message, extensions };
}

// The same for an error raised outside Apollo (WebSocket, the HTTP layer).
export function toFormatted(error) {
  const json = error instanceof GraphQLError ? error.toJSON() : { message: String(error?.message ?? error) };
  if (error instanceof GraphQLError && !error.extensions?.code && !error.originalError) {
    json.extensions = { ...json.extensions, code: error.nodes || error.locations ? validationCode(error.message) : 'graphql_parse_failed' };
  }
  return formatError(json, error);
}
