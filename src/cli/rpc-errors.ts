/**
 * How the CLI shows a failed admin call: the first line as before
 * ("sigil: CODE: message"), then every google.rpc detail of the
 * `grpc-status-details-bin` trailer (docs/admin-api.md), one per line:
 *
 *   sigil: INVALID_ARGUMENT: name: must not contain ... (and 1 more)
 *     reason: INVALID_ARGUMENT (sigil.dev)
 *     field name: must not contain the NUL character (U+0000)
 *     field description: must not contain the NUL character (U+0000)
 *     precondition CA_HAS_CHILDREN certificate_authorities/...: the CA has 1 child CA(s); delete them first
 *     retry after: 600s
 *
 * With --json: the google.rpc.Status in its proto3 JSON form (details as
 * Any with "@type"), one document on stderr.
 */
import * as grpc from "@grpc/grpc-js";
import { fromBinary, toJsonString } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { decodeStatusDetails, errorDetailRegistry, STATUS_DETAILS_TRAILER } from "../admin/error-details.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/** What grpc-js rejects a call with. */
export interface RpcErrorLike {
  code: number;
  details?: string;
  metadata?: grpc.Metadata;
}

function statusBytes(err: RpcErrorLike): Buffer | undefined {
  const v = err.metadata?.get(STATUS_DETAILS_TRAILER)[0];
  return Buffer.isBuffer(v) ? v : undefined;
}

/** Text: the first line, then one indented line per detail. */
export function renderRpcErrorText(err: RpcErrorLike): string {
  const lines = [`sigil: ${grpc.status[err.code] ?? err.code}: ${err.details ?? ""}`];
  const d = decodeStatusDetails(statusBytes(err));
  if (d?.errorInfo) lines.push(`  reason: ${d.errorInfo.reason} (${d.errorInfo.domain})`);
  for (const v of d?.badRequest?.fieldViolations ?? []) lines.push(`  field ${v.field}: ${v.description}`);
  for (const v of d?.preconditionFailure?.violations ?? []) lines.push(`  precondition ${v.type} ${v.subject}: ${v.description}`);
  if (d?.retryInfo?.retryDelay) lines.push(`  retry after: ${Math.ceil(durationMs(d.retryInfo.retryDelay) / 1000)}s`);
  for (const t of d?.unknown ?? []) lines.push(`  detail: ${t}`);
  return `${lines.join("\n")}\n`;
}

/** JSON: the google.rpc.Status (code, message, details) as proto3 JSON. */
export function renderRpcErrorJson(err: RpcErrorLike): string {
  const bin = statusBytes(err);
  let status;
  try {
    status = bin ? fromBinary(StatusSchema, bin) : undefined;
  } catch {
    status = undefined;
  }
  const doc = status
    ? JSON.parse(toJsonString(StatusSchema, status, { registry: errorDetailRegistry }))
    : { code: err.code, message: err.details ?? "" };
  return `${JSON.stringify({ ...doc, codeName: grpc.status[err.code] ?? String(err.code) }, null, 2)}\n`;
}
