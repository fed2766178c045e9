/**
 * Edge checks every decoded admin request passes before authentication and
 * before any handler, walking the message with its schema (so every string
 * field of every request, present and future, is covered without a list):
 *
 * - no string holds U+0000: PostgreSQL text cannot store NUL, so such a
 *   value reached the database and answered INTERNAL (for Login even
 *   before authentication);
 * - every google.protobuf.Timestamp is within the range its definition
 *   allows (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, nanos
 *   0..999999999); beyond it dates are invalid or out of the database's range.
 *
 * Violations are INVALID_ARGUMENT naming every field by its proto path
 * (`filter.username`, `dns_names[2]`; map entries by the map's name); the
 * value is never echoed.
 */
import { ScalarType, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { Violations } from "../core/errors.js";

/** google.protobuf.Timestamp: seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z */
export const TIMESTAMP_MIN_SECONDS = -62_135_596_800n;
export const TIMESTAMP_MAX_SECONDS = 253_402_300_799n;

export const NUL_MESSAGE = "must not contain the NUL character (U+0000)";
export const ILL_FORMED_MESSAGE = "must be well-formed Unicode (no unpaired surrogate)";
/** a high surrogate not followed by a low one, or a low one not preceded by a high one */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const TIMESTAMP_RANGE_MESSAGE = "must be a timestamp from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/**
 * Throws SigilError invalidArgument naming every violation in `message`
 * (google.rpc.BadRequest lists them all; the message names the first).
 */
export function checkRequest<D extends DescMessage>(schema: D, message: MessageShape<D>): void {
  const found = new Violations();
  walk(reflect(schema, message), "", found);
  found.throwIfAny();
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function checkString(value: unknown, path: string, found: Violations): void {
  if (typeof value === "string" && value.includes("\u0000")) found.add(path, NUL_MESSAGE);
  // a lone UTF-16 surrogate cannot be stored either (PostgreSQL refuses it in text and jsonb)
  else if (typeof value === "string" && LONE_SURROGATE.test(value)) found.add(path, ILL_FORMED_MESSAGE);
}

/** A Timestamp's seconds and nanos within the range of its definition. */
export function timestampInRange(seconds: bigint, nanos: number): boolean {
  return seconds >= TIMESTAMP_MIN_SECONDS && seconds <= TIMESTAMP_MAX_SECONDS && Number.isInteger(nanos) && nanos >= 0 && nanos <= 999_999_999;
}

function walk(r: ReflectMessage, path: string, found: Violations): void {
  if (r.desc.typeName === "google.protobuf.Timestamp") {
    const m = r.message as { seconds?: bigint; nanos?: number };
    if (!timestampInRange(BigInt(m.seconds ?? 0n), m.nanos ?? 0)) found.add(path, TIMESTAMP_RANGE_MESSAGE);
    return;
  }
  for (const f of r.fields) {
    if (!r.isSet(f)) continue;
    const here = join(path, f.name);
    switch (f.fieldKind) {
      case "scalar":
        if (f.scalar === ScalarType.STRING) checkString(r.get(f), here, found);
        break;
      case "enum":
        break;
      case "message":
        walk(r.get(f), here, found);
        break;
      case "list": {
        const list = r.get(f);
        let i = 0;
        for (const item of list) {
          const at = `${here}[${i++}]`;
          if (f.listKind === "scalar" && f.scalar === ScalarType.STRING) checkString(item, at, found);
          else if (f.listKind === "message") walk(item as ReflectMessage, at, found);
        }
        break;
      }
      case "map": {
        const map = r.get(f);
        // entries are named by the field alone: a key is a caller's value, never echoed
        for (const [key, value] of map) {
          if (f.mapKey === ScalarType.STRING) checkString(key, here, found);
          if (f.mapKind === "scalar" && f.scalar === ScalarType.STRING) checkString(value, here, found);
          else if (f.mapKind === "message") walk(value as ReflectMessage, here, found);
        }
        break;
      }
      default: {
        const never: never = f;
        throw new Error(`unknown field kind ${String(never)}`);
      }
    }
  }
}
