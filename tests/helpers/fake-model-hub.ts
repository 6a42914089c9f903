import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { makeTempDir, type TempDir } from "./fixtures";

/**
 * A stand-in for the Hugging Face hub on 127.0.0.1, speaking the parts of its protocol that
 * model downloads use: the tree API, `resolve` URLs (LFS files as a 302 to a "CDN" path, as the
 * real hub does), Range requests answered with 206. It can misbehave on demand, and records
 * every request so tests can see whether a download resumed.
 */

/** One file of the fixture repository. */
export type FixtureFile = {
  /** `/`-separated path in the repository. */
  path: string;
  content: Buffer;
  /** Served like a Git LFS file: the listing carries `lfs.oid` (sha256) and `resolve` redirects. */
  lfs: boolean;
};

/** How the hub should misbehave; everything off by default. */
export type HubBehaviour = {
  /** Close the connection after this many body bytes of `path`, once (the next request is served normally). */
  cutAfter?: { path: string; bytes: number };
  /** Serve `path` with flipped bytes (same length) this many times (default every time). */
  corrupt?: { path: string; times?: number };
  /** Answer every Range request with a 200 and the whole file. */
  ignoreRange?: boolean;
  /** Require `Authorization: Bearer <token>` on every request (401 otherwise). */
  token?: string;
};

/** A request the hub saw. */
export type HubRequest = {
  method: string;
  /** Path and query as sent. */
  url: string;
  /** Repository path of the file served (after following the redirect), if any. */
  file?: string;
  /** The Range header, verbatim. */
  range?: string;
  authorization?: string;
  status: number;
};

export type FakeModelHub = {
  /** e.g. "http://127.0.0.1:41234"; pass as HF_ENDPOINT. */
  endpoint: string;
  /** The one repository it serves. */
  repo: string;
  /** Its files, by path. */
  files: ReadonlyMap<string, FixtureFile>;
  requests: HubRequest[];
  /** Replaces the current misbehaviour (pass {} to behave). */
  setBehaviour(behaviour: HubBehaviour): void;
  /** Replaces a file's content (as a new revision of the repo would). */
  setFile(file: FixtureFile): Promise<void>;
  /** Requests that fetched `file` content, with their Range headers. */
  contentRequests(file: string): HubRequest[];
  close(): Promise<void>;
};

export const FIXTURE_REPO = "onnx-community/whisper-fixture";

/** Bytes of the large file: over 1 MB, so a cut mid-file leaves a part file to resume. */
export const LARGE_FILE_BYTES = 1_500_000;

function json(value: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A Whisper-shaped repository: the JSON files the loader reads (small, plain git files) and
 * random-byte "ONNX" files for three variants (LFS), the fp16 one with a split decoder.
 */
export function fixtureFiles(): FixtureFile[] {
  const plain = (p: string, content: Buffer): FixtureFile => ({ path: p, content, lfs: false });
  const lfs = (p: string, bytes: number): FixtureFile => ({ path: p, content: randomBytes(bytes), lfs: true });
  return [
    plain("config.json", json({ model_type: "whisper", d_model: 8, num_mel_bins: 80 })),
    plain("generation_config.json", json({ decoder_start_token_id: 1, eos_token_id: 2 })),
    plain("preprocessor_config.json", json({ feature_size: 80, sampling_rate: 16000, hop_length: 160, n_fft: 400, n_samples: 480000 })),
    plain("tokenizer.json", json({ model: { type: "BPE", vocab: { a: 0, b: 1 } } })),
    plain("tokenizer_config.json", json({ model_max_length: 448 })),
    plain("README.md", Buffer.from("# fixture\n")),
    plain(".gitattributes", Buffer.from("*.onnx filter=lfs diff=lfs merge=lfs -text\n")),
    lfs("onnx/encoder_model.onnx", LARGE_FILE_BYTES),
    lfs("onnx/decoder_model_merged.onnx", 300_000),
    lfs("onnx/encoder_model_quantized.onnx", 120_000),
    lfs("onnx/decoder_model_merged_quantized.onnx", 80_000),
    lfs("onnx/encoder_model_fp16.onnx", 90_000),
    lfs("onnx/decoder_model_fp16.onnx", 70_000),
    lfs("onnx/decoder_with_past_model_fp16.onnx", 60_000),
  ];
}

function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

function gitBlobSha1(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

/** The tree API's answer: files plus the directories above them, as the hub lists them. */
function treeListing(files: Iterable<FixtureFile>): unknown[] {
  const entries: unknown[] = [];
  const dirs = new Set<string>();
  for (const file of files) {
    const dir = path.posix.dirname(file.path);
    if (dir !== "." && !dirs.has(dir)) {
      dirs.add(dir);
      entries.push({ type: "directory", oid: "0".repeat(40), size: 0, path: dir });
    }
    const entry: Record<string, unknown> = { type: "file", oid: gitBlobSha1(file.content), size: file.content.length, path: file.path };
    // For LFS files the git object is the pointer file; the hub reports the content in `lfs`.
    if (file.lfs) entry.lfs = { oid: sha256(file.content), size: file.content.length, pointerSize: 134 };
    entries.push(entry);
  }
  return entries;
}

/** `bytes=N-` or `bytes=N-M` → [start, end] inclusive; undefined for anything else. */
function parseRange(header: string | undefined, size: number): [number, number] | "unsatisfiable" | undefined {
  const match = header ? /^bytes=(\d+)-(\d*)$/.exec(header) : null;
  if (!match?.[1]) return undefined;
  const start = Number(match[1]);
  const end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
  return start >= size || end < start ? "unsatisfiable" : [start, end];
}

export async function startFakeModelHub(options: { files?: FixtureFile[]; repo?: string } = {}): Promise<FakeModelHub> {
  const repo = options.repo ?? FIXTURE_REPO;
  const files = new Map((options.files ?? fixtureFiles()).map((file) => [file.path, file]));
  const requests: HubRequest[] = [];
  let behaviour: HubBehaviour = {};
  let corruptServed = 0;
  // The fixture also lives on disk, as the issue asks: served bytes are read back from there.
  const store: TempDir = await makeTempDir("fake-model-hub-");
  const diskPath = (file: FixtureFile) => path.join(store.dir, ...file.path.split("/"));
  const writeToDisk = async (file: FixtureFile) => {
    await fs.mkdir(path.dirname(diskPath(file)), { recursive: true });
    await fs.writeFile(diskPath(file), file.content);
  };
  for (const file of files.values()) await writeToDisk(file);

  const record = (req: http.IncomingMessage, status: number, file?: string) => {
    requests.push({ method: req.method ?? "GET", url: req.url ?? "", file, range: req.headers.range, authorization: req.headers.authorization, status });
  };
  const reply = (req: http.IncomingMessage, res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) => {
    record(req, status);
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };

  async function serveContent(req: http.IncomingMessage, res: http.ServerResponse, file: FixtureFile): Promise<void> {
    let content = await fs.readFile(diskPath(file));
    if (behaviour.corrupt?.path === file.path && corruptServed < (behaviour.corrupt.times ?? Infinity)) {
      corruptServed++;
      content = Buffer.from(content);
      for (let i = 0; i < content.length; i += 997) content[i] = content[i]! ^ 0xff;
    }
    const range = behaviour.ignoreRange ? undefined : parseRange(req.headers.range, content.length);
    if (range === "unsatisfiable") {
      record(req, 416, file.path);
      res.writeHead(416, { "content-range": `bytes */${content.length}` });
      res.end();
      return;
    }
    const [start, end] = range ?? [0, content.length - 1];
    const status = range ? 206 : 200;
    record(req, status, file.path);
    const headers: http.OutgoingHttpHeaders = { "content-type": "application/octet-stream", "content-length": end - start + 1, "accept-ranges": "bytes", etag: `"${sha256(content)}"` };
    if (range) headers["content-range"] = `bytes ${start}-${end}/${content.length}`;
    res.writeHead(status, headers);
    const body = content.subarray(start, end + 1);
    const cut = behaviour.cutAfter;
    if (cut?.path === file.path && cut.bytes < body.length) {
      behaviour = { ...behaviour, cutAfter: undefined }; // once
      // Send the first bytes, wait until they are on the wire, then drop the connection
      // mid-body, as a network failure would: the client sees a short body.
      res.write(body.subarray(0, cut.bytes), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  }

  const repoPrefix = `/${repo}/resolve/`;
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://hub.invalid");
    if (behaviour.token && req.headers.authorization !== `Bearer ${behaviour.token}`) return reply(req, res, 401, { error: "Invalid credentials" });

    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(url.pathname);
    if (tree) {
      if (decodeURIComponent(tree[1]!) !== repo) return reply(req, res, 404, { error: "Repository not found" });
      if (decodeURIComponent(tree[2]!) !== "main") return reply(req, res, 404, { error: "Invalid rev id" });
      return reply(req, res, 200, treeListing(files.values()));
    }
    if (url.pathname.startsWith(repoPrefix)) {
      const [revision, ...rest] = url.pathname.slice(repoPrefix.length).split("/");
      const file = files.get(rest.map(decodeURIComponent).join("/"));
      if (revision !== "main" || !file) return reply(req, res, 404, { error: "Entry not found" });
      if (!file.lfs) return serveContent(req, res, file);
      // The real hub redirects LFS files to its CDN with a signed URL.
      record(req, 302, file.path);
      res.writeHead(302, { location: `/cdn/${sha256(file.content)}?signature=fixture` });
      res.end();
      return;
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    const cdnFile = cdn && [...files.values()].find((file) => sha256(file.content) === cdn[1]);
    if (cdnFile) return serveContent(req, res, cdnFile);
    return reply(req, res, 404, { error: "Not found" });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(req, res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    repo,
    files,
    requests,
    setBehaviour(next) {
      behaviour = { ...next };
      corruptServed = 0;
    },
    async setFile(file) {
      await writeToDisk(file);
      files.set(file.path, file);
    },
    contentRequests: (file) => requests.filter((request) => request.file === file && (request.status === 200 || request.status === 206)),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.cleanup();
    },
  };
}
