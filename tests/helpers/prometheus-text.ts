/**
 * A strict reader of Prometheus's text exposition format (0.0.4), for tests: every line must
 * be blank, a comment, or `name{labels} value`; label values are unescaped. It throws on
 * anything else, so "it parses" is an assertion in itself.
 */
export type Sample = { name: string; labels: Record<string, string>; value: number };
export type Exposition = { samples: Sample[]; help: Map<string, string>; types: Map<string, string> };

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const SAMPLE_LINE = new RegExp(`^(${NAME})(\\{(.*)\\})?[ \\t]+(\\S+)([ \\t]+-?\\d+)?$`);

export function parsePrometheusText(text: string): Exposition {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const types = new Map<string, string>();
  text.split("\n").forEach((line, index) => {
    const where = `line ${index + 1} ${JSON.stringify(line)}`;
    if (line.trim() === "") return;
    if (line.startsWith("#")) {
      const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`).exec(line);
      if (!meta) return; // any other comment
      if (meta[1] === "HELP") help.set(meta[2]!, unescape(meta[3]!, false, where));
      else {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(meta[3]!)) throw new Error(`unknown TYPE on ${where}`);
        types.set(meta[2]!, meta[3]!);
      }
      return;
    }
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a sample on ${where}`);
    samples.push({ name: match[1]!, labels: match[3] !== undefined ? parseLabels(match[3], where) : {}, value: parseValue(match[4]!, where) });
  });
  return { samples, help, types };
}

function parseValue(raw: string, where: string): number {
  if (raw === "+Inf" || raw === "Inf") return Number.POSITIVE_INFINITY;
  if (raw === "-Inf") return Number.NEGATIVE_INFINITY;
  if (raw === "NaN") return Number.NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) throw new Error(`bad value ${raw} on ${where}`);
  return Number(raw);
}

function parseLabels(body: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = body;
  while (rest.length > 0) {
    const head = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(rest);
    if (!head) throw new Error(`bad label at ${JSON.stringify(rest)} on ${where}`);
    let i = head[0].length;
    let raw = "";
    for (;;) {
      if (i >= rest.length) throw new Error(`unterminated label value on ${where}`);
      const char = rest[i]!;
      if (char === "\\") {
        raw += rest.slice(i, i + 2);
        i += 2;
        continue;
      }
      if (char === '"') break;
      raw += char;
      i++;
    }
    if (head[1]! in labels) throw new Error(`label ${head[1]} twice on ${where}`);
    labels[head[1]!] = unescape(raw, true, where);
    rest = rest.slice(i + 1);
    if (rest.startsWith(",")) rest = rest.slice(1);
    else if (rest.length > 0) throw new Error(`expected , between labels on ${where}`);
  }
  return labels;
}

function unescape(raw: string, quoted: boolean, where: string): string {
  return raw.replace(/\\(.)/g, (_all, char: string) => {
    if (char === "\\") return "\\";
    if (char === "n") return "\n";
    if (char === '"' && quoted) return '"';
    throw new Error(`bad escape \\${char} on ${where}`);
  });
}

/** The value of the one sample named `name` whose labels include `labels`; 0 when there is none. */
export function sampleValue(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = exposition.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}
