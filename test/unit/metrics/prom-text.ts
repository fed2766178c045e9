/**
 * A strict parser of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): every
 * line is a HELP, a TYPE, or a sample of a family declared just before it;
 * names, labels, escapes and values must be well formed, histogram bucket
 * series must be cumulative and end at +Inf with _count equal to it. Any
 * deviation throws with the line number.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(raw: string, at: string): number {
  // Prometheus reads values with Go's strconv.ParseFloat: Inf and NaN in any case (prom-client writes "Nan")
  if (/^\+?inf$/i.test(raw)) return Infinity;
  if (/^-inf$/i.test(raw)) return -Infinity;
  if (/^nan$/i.test(raw)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`${at}: bad value ${JSON.stringify(raw)}`);
  return Number(raw);
}

function parseLabels(text: string, at: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 0;
  if (text[i] !== "{") return { labels, rest: text };
  i++;
  while (text[i] !== "}") {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new Error(`${at}: bad label name`);
    const key = m[0];
    i += key.length;
    if (text[i] !== "=" || text[i + 1] !== '"') throw new Error(`${at}: expected ="`);
    i += 2;
    let value = "";
    for (;;) {
      const ch = text[i];
      if (ch === undefined) throw new Error(`${at}: unterminated label value`);
      if (ch === '"') break;
      if (ch === "\\") {
        const next = text[i + 1];
        if (next === "n") value += "\n";
        else if (next === "\\") value += "\\";
        else if (next === '"') value += '"';
        else throw new Error(`${at}: bad escape \\${next}`);
        i += 2;
        continue;
      }
      if (ch === "\n") throw new Error(`${at}: raw newline in label value`);
      value += ch;
      i++;
    }
    i++;
    if (key in labels) throw new Error(`${at}: duplicate label ${key}`);
    if (!LABEL.test(key)) throw new Error(`${at}: bad label name ${key}`);
    labels[key] = value;
    if (text[i] === ",") i++;
    else if (text[i] !== "}") throw new Error(`${at}: expected , or }`);
  }
  return { labels, rest: text.slice(i + 1) };
}

/** the family a sample name belongs to (histogram/summary suffixes) */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  if (families.has(name)) return families.get(name);
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || (f.type === "summary" && suffix !== "_bucket"))) return f;
    }
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const lines = text.split("\n");
  lines.pop();
  lines.forEach((line, n) => {
    const at = `line ${n + 1}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`${at}: malformed ${line}`);
        return; // a comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${at}: bad metric name ${name}`);
      let f = families.get(name);
      if (!f) {
        f = { name, help: "", type: "untyped", samples: [] };
        families.set(name, f);
      } else if (current !== f) throw new Error(`${at}: family ${name} is not contiguous`);
      if (kind === "TYPE") {
        if (!TYPES.has(rest)) throw new Error(`${at}: bad type ${rest}`);
        if (f.samples.length) throw new Error(`${at}: TYPE after samples`);
        f.type = rest as Family["type"];
      } else f.help = rest;
      current = f;
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
    if (!m) throw new Error(`${at}: not a sample: ${line}`);
    const name = m[1]!;
    const { labels, rest } = parseLabels(m[2]!, at);
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) throw new Error(`${at}: expected " value [timestamp]"`);
    const value = parseValue(parts[0]!, at);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${at}: bad timestamp`);
    const f = familyOf(name, families);
    if (!f || f !== current) throw new Error(`${at}: sample ${name} outside its family's block`);
    if (f.type === "counter" && !(value >= 0)) throw new Error(`${at}: negative counter`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      entry.buckets.push([parseValue(le, f.name), s.value]);
    } else if (s.name === `${f.name}_count`) entry.count = s.value;
  }
  for (const [key, { buckets, count }] of series) {
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i]![0] <= buckets[i - 1]![0]) throw new Error(`${f.name}${key}: le not increasing`);
      if (buckets[i]![1] < buckets[i - 1]![1]) throw new Error(`${f.name}${key}: buckets not cumulative`);
    }
    const last = buckets.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket`);
    if (count !== last[1]) throw new Error(`${f.name}${key}: _count ${count} != +Inf bucket ${last[1]}`);
  }
}

/** the value of the sample `name` whose labels include `labels` (0 when absent) */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
    }
  }
  return total;
}
