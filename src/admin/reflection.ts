/**
 * Server reflection (grpc.reflection.v1 and v1alpha ServerReflectionInfo), so
 * that `buf curl --reflect` and grpcurl can list and call every service.
 *
 * We use @grpc/reflection (grpc-node's own implementation of both versions)
 * and feed it the FileDescriptorProtos that protobuf-es embeds in the
 * generated code (`GenFile.proto`), with their transitive dependencies (e.g.
 * google/protobuf/timestamp.proto). @grpc/reflection normally takes a
 * @grpc/proto-loader package definition, but it only reads the
 * `fileDescriptorProtos` of its entries, so one synthetic entry carrying our
 * serialized files is enough. It decodes and re-encodes them with protobufjs;
 * the round trip is byte-identical for our files (checked in the tests via
 * buf curl, which needs exact descriptors to encode requests).
 */
import type * as grpc from "@grpc/grpc-js";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

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
  return withDependencies([...services].map((s) => s.file)).map((f) => {
    const bytes = toBinary(FileDescriptorProtoSchema, f.proto);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  });
}

/**
 * Adds grpc.reflection.v1 and v1alpha to `server`, describing `services`
 * (only these are listed; their messages, enums and imports are resolvable).
 */
export function addReflection(server: grpc.Server, services: DescService[]): void {
  const pkg = {
    "sigil.reflection.files": {
      format: "Protocol Buffer 3 FileDescriptorProto",
      fileDescriptorProtos: fileDescriptorSet(services),
    },
  } as unknown as PackageDefinition;
  new ReflectionService(pkg, { services: services.map((s) => s.typeName) }).addToServer(server);
}
