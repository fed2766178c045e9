/**
 * gRPC server reflection, grpc.reflection.v1 and v1alpha
 * (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md), so
 * that `buf curl --reflect`, grpcurl and Postman can list and call every
 * service of the gRPC port.
 *
 * The answers are built from the FileDescriptorProtos that protobuf-es v2
 * embeds in the generated code (`DescFile.proto`), serialized with
 * toBinary: the exact descriptors the code was generated from, so a client
 * encodes requests exactly as the server decodes them. Both versions share
 * one implementation (their messages are identical but for the package);
 * ./connect.ts serves it as a bidi stream over HTTP/2.
 *
 * Per the protocol, a FileDescriptorResponse carries the requested file and
 * those of its transitive imports that were not yet sent on this stream
 * (grpc-go does the same), so a client that caches per stream gets each file once.
 */
import { toBinary, type DescEnum, type DescExtension, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";

export { ServerReflectionV1, ServerReflectionV1alpha };

/** google.rpc.Code values the reflection protocol puts in ErrorResponse.error_code. */
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

/** `files` and everything they import, dependencies first, each once. */
export function withDependencies(files: Iterable<DescFile>): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile): void => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    for (const dep of f.dependencies) visit(dep);
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

/** Serialized FileDescriptorProtos of the services' files and their imports. */
export function fileDescriptorSet(services: Iterable<DescService>): Buffer[] {
  return withDependencies([...services].map((s) => s.file)).map((f) => Buffer.from(serialize(f)));
}

function serialize(f: DescFile): Uint8Array {
  return toBinary(FileDescriptorProtoSchema, f.proto);
}

/** A response without original_request (v1 and v1alpha have the same shape). */
export type ResponseInit = Omit<MessageInitShape<GenMessage<ServerReflectionResponse>>, "originalRequest">;
type Request = Pick<ServerReflectionRequest, "host" | "messageRequest">;

/**
 * What reflection knows: the listed services, every file they need, and
 * every symbol of those files (messages, fields, enums, enum values,
 * services, methods, extensions) by fully-qualified name.
 */
export class ReflectionIndex {
  readonly #serviceNames: string[];
  readonly #files = new Map<string, DescFile>();
  readonly #bytes = new Map<string, Uint8Array>();
  readonly #symbols = new Map<string, DescFile>();
  /** extendee type name -> field number -> the extension's file */
  readonly #extensions = new Map<string, Map<number, DescFile>>();
  readonly #types = new Set<string>();

  /** `services` are listed (in this order); their files and imports are resolvable. */
  constructor(services: DescService[]) {
    this.#serviceNames = services.map((s) => s.typeName);
    for (const f of withDependencies(services.map((s) => s.file))) {
      this.#files.set(f.proto.name, f);
      this.#bytes.set(f.proto.name, serialize(f));
      this.#indexFile(f);
    }
  }

  #symbol(name: string, f: DescFile): void {
    if (!this.#symbols.has(name)) this.#symbols.set(name, f);
  }

  #extension(ext: DescExtension, f: DescFile): void {
    this.#symbol(ext.typeName, f);
    let byNumber = this.#extensions.get(ext.extendee.typeName);
    if (!byNumber) this.#extensions.set(ext.extendee.typeName, (byNumber = new Map()));
    byNumber.set(ext.number, f);
  }

  #enum(e: DescEnum, f: DescFile): void {
    this.#symbol(e.typeName, f);
    // enum values are scoped like C++ enumerators: siblings of the enum (protobuf descriptor.proto)
    const scope = e.typeName.includes(".") ? e.typeName.slice(0, e.typeName.lastIndexOf(".") + 1) : "";
    for (const v of e.values) this.#symbol(scope + v.name, f);
  }

  #message(m: DescMessage, f: DescFile): void {
    this.#symbol(m.typeName, f);
    this.#types.add(m.typeName);
    for (const field of m.fields) this.#symbol(`${m.typeName}.${field.name}`, f);
    for (const o of m.oneofs) this.#symbol(`${m.typeName}.${o.name}`, f);
    for (const n of m.nestedMessages) this.#message(n, f);
    for (const e of m.nestedEnums) this.#enum(e, f);
    for (const x of m.nestedExtensions) this.#extension(x, f);
  }

  #indexFile(f: DescFile): void {
    for (const m of f.messages) this.#message(m, f);
    for (const e of f.enums) this.#enum(e, f);
    for (const x of f.extensions) this.#extension(x, f);
    for (const s of f.services) {
      this.#symbol(s.typeName, f);
      for (const m of s.methods) this.#symbol(`${s.typeName}.${m.name}`, f);
    }
  }

  /** The file and its imports not yet in `sent` (which it updates), the file first. */
  #fileResponse(f: DescFile, sent: Set<string>): ResponseInit["messageResponse"] {
    const out: Uint8Array[] = [];
    const visit = (file: DescFile, requested: boolean): void => {
      if (!requested && sent.has(file.proto.name)) return;
      sent.add(file.proto.name);
      const bytes = this.#bytes.get(file.proto.name);
      if (bytes) out.push(bytes);
      for (const dep of file.dependencies) visit(dep, false);
    };
    visit(f, true);
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  /**
   * The answer to one request of a stream; `sent` holds the names of the
   * files already sent on that stream.
   */
  answer(req: Request, sent: Set<string>): ResponseInit {
    // original_request is set by the caller, which holds the request in its own version's type
    const base = { validHost: req.host };
    const error = (code: number, message: string): ResponseInit => ({
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } },
    });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return { ...base, messageResponse: { case: "listServicesResponse", value: { service: this.#serviceNames.map((name) => ({ name })) } } };
      case "fileByFilename": {
        const f = this.#files.get(r.value);
        return f ? { ...base, messageResponse: this.#fileResponse(f, sent) } : error(NOT_FOUND, `file not found: ${r.value}`);
      }
      case "fileContainingSymbol": {
        const f = this.#symbols.get(r.value.replace(/^\./, ""));
        return f ? { ...base, messageResponse: this.#fileResponse(f, sent) } : error(NOT_FOUND, `symbol not found: ${r.value}`);
      }
      case "fileContainingExtension": {
        const f = this.#extensions.get(r.value.containingType)?.get(r.value.extensionNumber);
        return f
          ? { ...base, messageResponse: this.#fileResponse(f, sent) }
          : error(NOT_FOUND, `extension not found: ${r.value.containingType} ${r.value.extensionNumber}`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.#types.has(r.value)) return error(NOT_FOUND, `type not found: ${r.value}`);
        const numbers = [...(this.#extensions.get(r.value)?.keys() ?? [])].sort((a, b) => a - b);
        return { ...base, messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } } };
      }
      case undefined:
        return error(INVALID_ARGUMENT, "the request names no message_request");
      default: {
        const never: never = r;
        return error(INVALID_ARGUMENT, `unknown message_request ${String(never)}`);
      }
    }
  }
}
