import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { waitFor } from "../helpers/wait-for";
import { toneWav } from "../helpers/wav";

const KEY = "hardening-key";
const AUTH = { authorization: `Bearer ${KEY}` };

/** Open descriptors of a process (Linux). */
async function openDescriptors(pid: number): Promise<number> {
  return (await fs.readdir(`/proc/${pid}/fd`)).length;
}

async function filesIn(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

/**
 * Starts a multipart upload of `totalBytes` of file data, sends `sentBytes` of it and then
 * either destroys the socket (a client that went away) or just stops sending (a stalled one).
 * Resolves once the server has received the bytes sent so far (the blob's temp file exists).
 */
function partialUpload(baseUrl: string, opts: { sentBytes: number; totalBytes: number }): { request: http.ClientRequest; closed: Promise<void> } {
  const boundary = "----hardening";
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="part.wav"\r\nContent-Type: audio/wav\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const request = http.request(`${baseUrl}/api/uploads`, {
    method: "POST",
    headers: { ...AUTH, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + opts.totalBytes + tail.length },
  });
  request.on("error", () => undefined);
  request.write(head);
  request.write(Buffer.alloc(opts.sentBytes, 7));
  const closed = new Promise<void>((resolve) => request.once("close", () => resolve()));
  return { request, closed };
}

async function uploadFile(baseUrl: string, name: string, bytes: Buffer, type: string): Promise<Response> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(bytes)], { type }), name);
  return fetch(`${baseUrl}/api/uploads`, { method: "POST", headers: AUTH, body: form });
}

type MediaView = { id: string; originalName: string; contentType: string | null };

describe("uploads and media under hostile clients", () => {
  let temp: TempDir;
  let server: ServerProcess;
  let blobTmp: string;
  let staleTemp: string;
  let freshTemp: string;

  before(async () => {
    temp = await makeTempDir("hardening-");
    blobTmp = path.join(temp.dir, "blobs", "tmp");
    await fs.mkdir(blobTmp, { recursive: true });
    // Leftovers of a previous run: an old partial upload (swept at start) and one young enough
    // to belong to another replica's upload in progress (kept).
    staleTemp = path.join(blobTmp, "1-stale");
    freshTemp = path.join(blobTmp, "2-fresh");
    await fs.writeFile(staleTemp, "partial");
    await fs.writeFile(freshTemp, "partial");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(staleTemp, twoHoursAgo, twoHoursAgo);
    server = await startServerProcess({
      env: {
        DATA_DIR: temp.dir,
        API_KEYS: KEY,
        ASR_ENGINE_MODULE: path.resolve("bench/instant-engine.ts"),
        HTTP_REQUEST_TIMEOUT_MS: String(3600_000),
        HTTP_BODY_IDLE_TIMEOUT_MS: "400",
        MAX_AUDIO_SECONDS: "5",
        MAX_SRT_BYTES: String(64 * 1024),
      },
    });
  });
  after(async () => {
    await server?.kill("SIGKILL");
    await temp?.cleanup();
  });

  it("swept partial uploads older than a request may take at start, and kept younger ones", async () => {
    assert.deepEqual(await filesIn(blobTmp), ["2-fresh"]);
    await fs.rm(freshTemp);
  });

  it("frees the descriptor and the temp file of every upload its client abandons", async () => {
    const pid = server.child.pid!;
    const baseline = await openDescriptors(pid);
    const uploads = Array.from({ length: 40 }, () => partialUpload(server.baseUrl, { sentBytes: 64 * 1024, totalBytes: 10 * 1024 * 1024 }));
    // Every upload has reached the server (its temp file exists) before the clients vanish.
    await waitFor("all partial uploads to arrive", 20_000, async () => ((await filesIn(blobTmp)).length >= 40 ? true : undefined));
    for (const upload of uploads) upload.request.destroy();
    await Promise.all(uploads.map((upload) => upload.closed));
    await waitFor("temp files to be removed", 20_000, async () => ((await filesIn(blobTmp)).length === 0 ? true : undefined));
    const descriptors = await waitFor("descriptors to be released", 20_000, async () => {
      const now = await openDescriptors(pid);
      return now <= baseline + 2 ? now : undefined;
    });
    assert.ok(descriptors <= baseline + 2, `descriptors ${descriptors} vs ${baseline} before`);
    assert.equal((await fetch(`${server.baseUrl}/live`)).status, 200);
    const good = await uploadFile(server.baseUrl, "good.wav", toneWav({ durationS: 1 }), "audio/wav");
    assert.equal(good.status, 201);
  });

  it("closes an upload whose body stops arriving, and removes its temp file", async () => {
    const upload = partialUpload(server.baseUrl, { sentBytes: 1024, totalBytes: 1024 * 1024 });
    // The server, not the client, ends it: the client never destroys this request.
    let closedByServer = false;
    void upload.closed.then(() => (closedByServer = true));
    await waitFor("the server to close the stalled upload", 10_000, () => (closedByServer ? true : undefined)).finally(() => upload.request.destroy());
    await waitFor("the stalled upload's temp file to be removed", 10_000, async () => ((await filesIn(blobTmp)).length === 0 ? true : undefined));
    assert.equal((await fetch(`${server.baseUrl}/live`)).status, 200);
  });

  it("serves uploads with the type its own probe found, never the one the client claimed, sandboxed", async () => {
    const srt = "1\n00:00:00,000 --> 00:00:01,000\n<script>alert(localStorage.key)</script>\n";
    const response = await uploadFile(server.baseUrl, "evil.srt", Buffer.from(srt), "text/html");
    assert.equal(response.status, 201);
    const { media } = (await response.json()) as { media: MediaView };
    assert.equal(media.contentType, "text/plain; charset=utf-8");
    const served = await fetch(`${server.baseUrl}/api/media/${media.id}/content?disposition=inline&access_token=${KEY}`);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(served.headers.get("x-content-type-options"), "nosniff");
    assert.match(served.headers.get("content-security-policy") ?? "", /^sandbox;.*default-src 'none'/);

    const wav = await uploadFile(server.baseUrl, "tone.wav", toneWav({ durationS: 1 }), "text/html");
    const wavMedia = ((await wav.json()) as { media: MediaView }).media;
    const wavServed = await fetch(`${server.baseUrl}/api/media/${wavMedia.id}/content`, { headers: AUTH });
    assert.equal(wavServed.headers.get("content-type"), "audio/wav");
    await wavServed.arrayBuffer();
  });

  it("keeps non-ASCII file names as sent (UTF-8)", async () => {
    const response = await uploadFile(server.baseUrl, "résumé 日本.wav", toneWav({ durationS: 0.5 }), "audio/wav");
    assert.equal(response.status, 201);
    const { media } = (await response.json()) as { media: MediaView };
    assert.equal(media.originalName, "résumé 日本.wav");
  });

  it("refuses media longer than MAX_AUDIO_SECONDS and audio at an absurd sample rate", async () => {
    const long = await uploadFile(server.baseUrl, "long.wav", toneWav({ durationS: 6, sampleRateHz: 8000 }), "audio/wav");
    assert.equal(long.status, 413);
    assert.match(((await long.json()) as { detail: string }).detail, /MAX_AUDIO_SECONDS/);
    // 4 seconds at 1 Hz: a header that would make ffmpeg write 16,000 samples per claimed second.
    const slow = await uploadFile(server.baseUrl, "slow.wav", toneWav({ durationS: 4, sampleRateHz: 1, frequencyHz: 0 }), "audio/wav");
    assert.equal(slow.status, 400);
    assert.match(((await slow.json()) as { detail: string }).detail, /sample rate of 1 Hz/);
  });

  it("refuses subtitle files over MAX_SRT_BYTES", async () => {
    const cue = (i: number) => `${i + 1}\n00:00:${String(i % 60).padStart(2, "0")},000 --> 00:00:${String(i % 60).padStart(2, "0")},500\nline ${i}\n\n`;
    const big = Array.from({ length: 3000 }, (_, i) => cue(i)).join("");
    const response = await uploadFile(server.baseUrl, "big.srt", Buffer.from(big), "application/x-subrip");
    assert.equal(response.status, 413);
    assert.match(((await response.json()) as { detail: string }).detail, /MAX_SRT_BYTES/);
  });

  it("refuses state-changing requests a browser sends for another site", async () => {
    const form = () => {
      const body = new FormData();
      body.append("data_file", new Blob([new Uint8Array(toneWav({ durationS: 0.5 }))]), "a.wav");
      body.append("config", JSON.stringify({ type: "transcription", transcription_config: { language: "en" } }));
      return body;
    };
    const crossSite = await fetch(`${server.baseUrl}/v2/jobs`, { method: "POST", headers: { ...AUTH, "sec-fetch-site": "cross-site" }, body: form() });
    assert.equal(crossSite.status, 403);
    const otherOrigin = await fetch(`${server.baseUrl}/v2/jobs`, { method: "POST", headers: { ...AUTH, origin: "http://evil.example" }, body: form() });
    assert.equal(otherOrigin.status, 403);
    const sameOrigin = await fetch(`${server.baseUrl}/v2/jobs`, { method: "POST", headers: { ...AUTH, origin: server.baseUrl, "sec-fetch-site": "same-origin" }, body: form() });
    assert.equal(sameOrigin.status, 201);
    // Reading stays allowed (a link from elsewhere is fine).
    assert.equal((await fetch(`${server.baseUrl}/v2/jobs`, { headers: { ...AUTH, "sec-fetch-site": "cross-site" } })).status, 200);
  });

  it("needs a key for /jobs (it lists job ids) while /live and /ready stay open for probes", async () => {
    assert.equal((await fetch(`${server.baseUrl}/jobs`)).status, 401);
    assert.equal((await fetch(`${server.baseUrl}/jobs`, { headers: AUTH })).status, 200);
    assert.equal((await fetch(`${server.baseUrl}/live`)).status, 200);
    assert.notEqual((await fetch(`${server.baseUrl}/ready`)).status, 401);
  });

  it("answers a deeply nested or oversized config with 400", async () => {
    const submit = async (config: string) => {
      const body = new FormData();
      body.append("data_file", new Blob([new Uint8Array(toneWav({ durationS: 0.5 }))]), "a.wav");
      body.append("config", config);
      return fetch(`${server.baseUrl}/v2/jobs`, { method: "POST", headers: AUTH, body });
    };
    // 30,000 levels fit in the size limit and still overflow JSON.stringify's stack.
    const depth = 30_000;
    const deep = await submit(`{"type":"transcription","transcription_config":{"language":"en"},"x":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    assert.equal(deep.status, 400);
    assert.match(((await deep.json()) as { detail: string }).detail, /nested more than/);
    const huge = await submit(JSON.stringify({ type: "transcription", transcription_config: { language: "en" }, notes: "x".repeat(100 * 1024) }));
    assert.equal(huge.status, 400);
    assert.match(((await huge.json()) as { detail: string }).detail, /MAX_CONFIG_BYTES/);
  });

  it("refuses a tRPC body over MAX_JSON_BODY_BYTES with 413 without holding it", async () => {
    const body = JSON.stringify({ json: { mediaFileId: "x".repeat(5 * 1024 * 1024) } });
    const response = await fetch(`${server.baseUrl}/api/trpc/jobs.create`, { method: "POST", headers: { ...AUTH, "content-type": "application/json" }, body });
    assert.equal(response.status, 413);
    assert.equal((await fetch(`${server.baseUrl}/live`)).status, 200);
  });

  it("says on /live when it is about to run out of descriptors, and recovers with them", async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip("lowering another process's limit with prlimit needs root");
      return;
    }
    const pid = String(server.child.pid);
    const open = await openDescriptors(server.child.pid!);
    const soft = /^Max open files\s+(\S+)/m.exec(await fs.readFile(`/proc/${pid}/limits`, "utf8"))?.[1] ?? "1024";
    // A soft limit barely above what is open now (the check itself opens /proc files); the
    // hard limit stays, so the soft one can be raised back.
    execFileSync("prlimit", ["--pid", pid, `--nofile=${open + 4}:`]);
    try {
      const live = await fetch(`${server.baseUrl}/live`);
      assert.equal(live.status, 503);
      const body = (await live.json()) as { reasons: string[] };
      assert.ok(body.reasons.some((reason) => /^descriptors: \d+ of \d+ open/.test(reason)), JSON.stringify(body));
    } finally {
      execFileSync("prlimit", ["--pid", pid, `--nofile=${soft}:`]);
    }
    assert.equal((await fetch(`${server.baseUrl}/live`)).status, 200);
  });

  it("logged no stack traces", () => {
    assert.doesNotMatch(server.output(), /\n\s+at /);
  });
});
