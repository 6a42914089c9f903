import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createTRPCClient, httpLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import { OPERATOR } from "../../src/server/access";
import type { AppRouter } from "../../src/server/api/trpc/root";
import { startScaleOutInfra, type ScaleOutInfra } from "../helpers/fauxqs";
import { startTestApp, waitForV2Job, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { toneWav } from "../helpers/wav";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const INSTANT_ENGINE = path.join(ROOT, "bench/instant-engine.ts");
const WAV = toneWav({ durationS: 2 });
const BIG_WAV = toneWav({ durationS: 8 }); // 256 KB
const TOKEN = "media-token-s3cret";

/** A media host on loopback: a public clip, one behind a header, a 404, and a large file with and without Content-Length. */
async function startMediaServer() {
  const seen: Array<{ path: string; token: string | undefined }> = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const token = req.headers["x-media-token"] as string | undefined;
    seen.push({ path: url.pathname, token });
    if (url.pathname === "/media/clip.wav") return void res.writeHead(200, { "content-type": "audio/wav", "content-length": WAV.length }).end(WAV);
    if (url.pathname === "/private/download") {
      if (token !== TOKEN) return void res.writeHead(401).end("no");
      return void res.writeHead(200, { "content-type": "audio/wav", "content-disposition": 'attachment; filename="private clip.wav"' }).end(WAV);
    }
    if (url.pathname === "/hang") return void res.writeHead(200, { "content-type": "audio/wav" }).write(WAV.subarray(0, 100)); // never ends
    if (url.pathname === "/big.wav") return void res.writeHead(200, { "content-length": BIG_WAV.length }).end(BIG_WAV);
    if (url.pathname === "/big-chunked.wav") {
      res.writeHead(200, { "content-type": "audio/wav" });
      for (let i = 0; i < BIG_WAV.length; i += 16_384) res.write(BIG_WAV.subarray(i, i + 16_384));
      return void res.end();
    }
    res.writeHead(404).end("not here");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

type MediaServer = Awaited<ReturnType<typeof startMediaServer>>;
type V2Error = { code: number; error: string; detail: string };

function trpcClient(baseUrl: string) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${baseUrl}/api/trpc`, transformer: superjson })] });
}

function v2UrlForm(fetchData: unknown): FormData {
  const form = new FormData();
  form.append("config", JSON.stringify({ type: "transcription", transcription_config: { language: "en" }, fetch_data: fetchData }));
  return form;
}

async function postV2(baseUrl: string, form: FormData): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/v2/jobs`, { method: "POST", body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function postAsync(baseUrl: string, mediaUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.append("media_url", mediaUrl);
  form.append("language_code", "en-US");
  const response = await fetch(`${baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function trpcError(promise: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TRPCClientError, String(error));
    return error as TRPCClientError<AppRouter>;
  }
  assert.fail("expected the call to fail");
}

describe("media by URL", () => {
  let media: MediaServer;
  before(async () => {
    media = await startMediaServer();
  });
  after(() => media.close());

  for (const provider of TEST_PROVIDERS) {
    describe(`on ${provider}`, () => {
      let t: TestApp;
      before(async () => {
        t = await startTestApp(provider, { OUTBOUND_ALLOW_HOSTS: "127.0.0.1", ASR_ENGINE_MODULE: INSTANT_ENGINE });
      });
      after(() => t.close());

      it("v2 fetch_data with auth_headers: fetched with the header, the job is DONE, the header value is not echoed", async () => {
        const { status, body } = await postV2(t.baseUrl, v2UrlForm({ url: `${media.base}/private/download`, auth_headers: [`X-Media-Token: ${TOKEN}`] }));
        assert.equal(status, 201, JSON.stringify(body));
        const job = await waitForV2Job(t.baseUrl, String(body.id));
        assert.equal(job.status, "DONE");
        assert.equal(job.data_name, "private clip.wav");
        assert.deepEqual((job.config as { fetch_data: unknown }).fetch_data, { url: `${media.base}/private/download`, auth_headers: ["X-Media-Token: [redacted]"] });
        assert.ok(!JSON.stringify(job).includes(TOKEN));
        assert.ok(media.seen.some((request) => request.path === "/private/download" && request.token === TOKEN));
        const transcript = await fetch(`${t.baseUrl}/v2/jobs/${String(body.id)}/transcript?format=txt`);
        assert.equal(transcript.status, 200);
      });

      it("v2: a non-2xx answer is a 400 naming the URL (credentials masked); data_file and fetch_data together are refused", async () => {
        const unauthorised = await postV2(t.baseUrl, v2UrlForm({ url: `${media.base}/private/download` }));
        assert.equal(unauthorised.status, 400);
        assert.equal((unauthorised.body as V2Error).detail, `Fetching ${media.base}/private/download failed: HTTP 401`);

        const missing = await postV2(t.baseUrl, v2UrlForm({ url: `${media.base.replace("http://", "http://user:pw@")}/nope.wav?sig=abc123` }));
        assert.equal(missing.status, 400);
        const detail = (missing.body as V2Error).detail;
        assert.equal(detail, `Fetching ${media.base.replace("http://", "http://redacted@")}/nope.wav?sig=[redacted] failed: HTTP 404`);
        assert.ok(!detail.includes("abc123") && !detail.includes("pw"));

        const both = v2UrlForm({ url: `${media.base}/media/clip.wav` });
        both.append("data_file", new Blob([new Uint8Array(WAV)]), "clip.wav");
        const refused = await postV2(t.baseUrl, both);
        assert.equal(refused.status, 400);
        assert.match((refused.body as V2Error).detail, /either data_file or config\.fetch_data/);

        const badHeader = await postV2(t.baseUrl, v2UrlForm({ url: `${media.base}/media/clip.wav`, auth_headers: ["no colon here"] }));
        assert.equal(badHeader.status, 400);
        assert.match((badHeader.body as V2Error).detail, /fetch_data\.auth_headers/);
      });

      it("async API: media_url instead of the file, the job completes", async () => {
        const { status, body } = await postAsync(t.baseUrl, `${media.base}/media/clip.wav`);
        assert.equal(status, 201, JSON.stringify(body));
        const name = String(body.job_name);
        await t.app.jobsFor(OPERATOR).waitForSettled(name.replace(/^transcribe-/, ""), 60_000);
        const detail = (await (await fetch(`${t.baseUrl}/transcribe-job/${name}`)).json()) as { status: string };
        assert.equal(detail.status, "COMPLETED");

        const missing = await postAsync(t.baseUrl, `${media.base}/gone.wav`);
        assert.equal(missing.status, 400);
        assert.equal(missing.body.error, `Fetching ${media.base}/gone.wav failed: HTTP 404`);
      });

      it("tRPC: createBatch with mediaUrls (and mediaFileIds) fetches them all, and the batch finishes; a bad URL is BAD_REQUEST naming it", async () => {
        const trpc = trpcClient(t.baseUrl);
        const uploaded = await trpc.system.mediaFromUrl.mutate({ url: `${media.base}/private/download`, authHeaders: [`X-Media-Token: ${TOKEN}`] });
        assert.equal(uploaded.originalName, "private clip.wav");
        assert.equal(uploaded.durationS, 2);
        const urls = Array.from({ length: 5 }, (_, i) => `${media.base}/media/clip.wav?n=${i}`);
        const batch = await trpc.jobs.createBatch.mutate({ mediaFileIds: [uploaded.id], mediaUrls: urls, language: "en" });
        const settled = await t.app.jobsFor(OPERATOR).waitForSettled(batch.id, 60_000);
        assert.equal(settled.status, "DONE");
        const children = await trpc.jobs.list.query({ parentId: batch.id, limit: 100, order: "oldest" });
        assert.equal(children.jobs.length, 6);
        assert.ok(children.jobs.every((child) => child.status === "DONE"));

        const error = await trpcError(trpc.jobs.createBatch.mutate({ mediaUrls: [`${media.base}/media/clip.wav`, `${media.base}/missing.wav?token=hush`], language: "en" }));
        assert.equal(error.data?.code, "BAD_REQUEST");
        assert.equal(error.message, `Fetching ${media.base}/missing.wav?token=[redacted] failed: HTTP 404`);
        const empty = await trpcError(trpc.jobs.createBatch.mutate({ language: "en" }));
        assert.equal(empty.data?.code, "BAD_REQUEST");
      });
    });
  }

  describe("the SSRF guard and the size limit", () => {
    let guarded: TestApp;
    let small: TestApp;
    before(async () => {
      guarded = await startTestApp("sqlite", { ASR_ENGINE_MODULE: INSTANT_ENGINE });
      small = await startTestApp("sqlite", { OUTBOUND_ALLOW_HOSTS: "127.0.0.0/8", MAX_UPLOAD_BYTES: String(100_000), MEDIA_FETCH_TIMEOUT_MS: "2000", ASR_ENGINE_MODULE: INSTANT_ENGINE });
    });
    after(async () => {
      await guarded.close();
      await small.close();
    });

    it("without OUTBOUND_ALLOW_HOSTS a loopback, private or metadata URL is refused with the reason", async () => {
      const before = media.seen.length;
      const v2 = await postV2(guarded.baseUrl, v2UrlForm({ url: `${media.base}/media/clip.wav` }));
      assert.equal(v2.status, 400);
      assert.match((v2.body as V2Error).detail, /^Fetching http:\/\/127\.0\.0\.1:\d+\/media\/clip\.wav refused: 127\.0\.0\.1 is a loopback address/);
      const port = new URL(media.base).port;
      const viaName = await postAsync(guarded.baseUrl, `http://localhost:${port}/media/clip.wav`);
      assert.equal(viaName.status, 400);
      assert.match(String(viaName.body.error), /loopback address \(localhost resolves to it\)/);
      for (const [url, reason] of [
        ["http://169.254.169.254/latest/meta-data/", /cloud metadata address/],
        ["http://10.0.0.1/a.wav", /private address/],
        [`http://[::1]:${port}/media/clip.wav`, /::1 is a loopback address/],
        ["file:///etc/passwd", /file: URLs are not supported/],
      ] as const) {
        const response = await postAsync(guarded.baseUrl, url);
        assert.equal(response.status, 400, url);
        assert.match(String(response.body.error), reason);
      }
      const trpc = trpcClient(guarded.baseUrl);
      const error = await trpcError(trpc.jobs.createBatch.mutate({ mediaUrls: [`${media.base}/media/clip.wav`] }));
      assert.equal(error.data?.code, "BAD_REQUEST");
      assert.match(error.message, /loopback/);
      assert.equal(media.seen.length, before, "nothing reached the media server");
    });

    it("a download over MAX_UPLOAD_BYTES is a 413, with or without a Content-Length", async () => {
      for (const file of ["big.wav", "big-chunked.wav"]) {
        const response = await postV2(small.baseUrl, v2UrlForm({ url: `${media.base}/${file}` }));
        assert.equal(response.status, 413, file);
        assert.match((response.body as V2Error).detail, /upload limit of 100000 bytes \(MAX_UPLOAD_BYTES\)/);
      }
      const ok = await postV2(small.baseUrl, v2UrlForm({ url: `${media.base}/media/clip.wav` }));
      assert.equal(ok.status, 201);
      await waitForV2Job(small.baseUrl, String(ok.body.id));
    });

    it("a download that does not finish within MEDIA_FETCH_TIMEOUT_MS is a 400", async () => {
      const response = await postAsync(small.baseUrl, `${media.base}/hang`);
      assert.equal(response.status, 400);
      assert.equal(response.body.error, `Fetching ${media.base}/hang failed: no complete download within 2000 ms (MEDIA_FETCH_TIMEOUT_MS)`);
    });

    it("s3:// without S3 configured is a 400", async () => {
      const response = await postAsync(guarded.baseUrl, "s3://bucket/key.wav");
      assert.equal(response.status, 400);
      assert.match(String(response.body.error), /s3:\/\/ URLs need S3 configured/);
    });
  });

  describe("s3:// with the S3 blob store (fauxqs)", () => {
    let infra: ScaleOutInfra;
    let t: TestApp;
    const saved: Record<string, string | undefined> = {};
    before(async () => {
      infra = await startScaleOutInfra({ maxReceiveCount: 3, visibilityTimeoutS: 30 });
      // The SDK's default credential chain reads these (fauxqs accepts any).
      for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) {
        saved[name] = process.env[name];
        process.env[name] = "test";
      }
      const s3 = new S3Client({ endpoint: infra.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      await s3.send(new PutObjectCommand({ Bucket: infra.bucket, Key: "incoming/s3 clip.wav", Body: WAV }));
      s3.destroy();
      t = await startTestApp("sqlite", { ...infra.awsEnv, BLOB_STORE: "s3", S3_BUCKET: infra.bucket, ASR_ENGINE_MODULE: INSTANT_ENGINE });
    });
    after(async () => {
      await t.close();
      await infra.stop();
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });

    it("reads s3://bucket/key with the AWS SDK; a missing key is a 400", async () => {
      const { status, body } = await postV2(t.baseUrl, v2UrlForm({ url: `s3://${infra.bucket}/incoming/s3 clip.wav` }));
      assert.equal(status, 201, JSON.stringify(body));
      const job = await waitForV2Job(t.baseUrl, String(body.id));
      assert.equal(job.status, "DONE");
      assert.equal(job.data_name, "s3 clip.wav");

      const missing = await postAsync(t.baseUrl, `s3://${infra.bucket}/incoming/nothing.wav`);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, `Reading s3://${infra.bucket}/incoming/nothing.wav failed: no such object`);
    });
  });
});
