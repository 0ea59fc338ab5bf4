// The gateway's one way to dtq: a client of the gRPC JobService
// (proto/dtq/v1/jobs.proto), loaded from the .proto files at start-up.
// Every call carries the caller's own API key as the metadata
// `authorization: Bearer KEY`, so dtq applies its rules (keys, scopes,
// limits) to GraphQL exactly as to REST and gRPC. A failure becomes a
// GraphQLError whose extensions.code is dtq's REST error code, read from the
// trailing metadata `dtq-error-bin` (dtq.v1.ErrorDetails).
import fs from 'node:fs';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { GraphQLError } from 'graphql';

function findProto(dirs) {
  for (const dir of dirs) {
    if (fs.existsSync(path.join(dir, 'dtq', 'v1', 'jobs.proto'))) return dir;
  }
  throw new Error(`dtq/v1/jobs.proto not found in ${dirs.join(', ')} (set DTQ_PROTO_DIR)`);
}

// When dtq gave no ErrorDetails (a transport failure): the gRPC code's REST name.
const codeOfStatus = {
  [grpc.status.UNAVAILABLE]: 'unavailable',
  [grpc.status.DEADLINE_EXCEEDED]: 'timeout',
  [grpc.status.UNAUTHENTICATED]: 'unauthorized',
  [grpc.status.PERMISSION_DENIED]: 'forbidden',
  [grpc.status.RESOURCE_EXHAUSTED]: 'payload_too_large',
  [grpc.status.NOT_FOUND]: 'not_found',
  [grpc.status.INVALID_ARGUMENT]: 'invalid_argument',
  [grpc.status.CANCELLED]: 'unavailable',
};

export class DtqClient {
  constructor(config) {
    const root = findProto(config.protoDirs);
    const file = path.join(root, 'dtq', 'v1', 'jobs.proto');
    const definition = protoLoader.loadSync(file, {
      includeDirs: [root],
      keepCase: true,
      longs: Number,
      enums: String,
      defaults: true,
    });
    const proto = grpc.loadPackageDefinition(definition);
    this.errorDetails = new protobuf.Root().loadSync(file, { keepCase: true }).lookupType('dtq.v1.ErrorDetails');
    this.timeoutMs = config.callTimeoutMs;
    this.target = config.grpcTarget;
    this.stub = new proto.dtq.v1.JobService(config.grpcTarget, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
      // Reconnect quickly after dtq restarts; watches retry on top of this.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 30000,
    });
  }

  close() {
    this.stub.close();
  }

  metadata(auth) {
    const metadata = new grpc.Metadata();
    if (auth) metadata.set('authorization', auth);
    return metadata;
  }

  // A unary call; resolves with the response, rejects with a GraphQLError.
  call(method, request, auth) {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + this.timeoutMs;
      this.stub[method](request, this.metadata(auth), { deadline }, (error, response) => {
        if (error) reject(this.toGraphQLError(error));
        else resolve(response);
      });
    });
  }

  // A server stream (WatchJob, WatchJobs); the caller handles its events.
  stream(method, request, auth) {
    return this.stub[method](request, this.metadata(auth));
  }

  // Ready when the channel to dtq is connected (or connects within `ms`).
  ready(ms = 1000) {
    return new Promise((resolve) => {
      this.stub.waitForReady(Date.now() + ms, (error) => resolve(!error));
    });
  }

  toGraphQLError(error) {
    let code = codeOfStatus[error.code] ?? 'internal';
    let details;
    const raw = error.metadata?.get('dtq-error-bin')?.[0];
    if (raw) {
      try {
        const decoded = this.errorDetails.decode(raw);
        if (decoded.code) code = decoded.code;
        if (decoded.field_errors?.length) {
          details = decoded.field_errors.map((f) => ({ field: f.field, message: f.message }));
        }
      } catch {
        // Not ours: keep the code of the gRPC status.
      }
    }
    let message = error.details || error.message;
    if (error.code === grpc.status.UNAVAILABLE && !raw) {
      message = `the dtq API at ${this.target} is unavailable`;
    }
    const extensions = { code };
    if (details) extensions.details = details;
    return new GraphQLError(message, { extensions });
  }
}

export function isUnavailable(error) {
  return error?.extensions?.code === 'unavailable';
}
