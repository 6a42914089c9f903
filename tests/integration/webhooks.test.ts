import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createReadStream, openAsBlob } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { OPERATOR } from "../../src/server/access";
import { createCaller } from "../../src/server/api/trpc/root";
import { openSqlClient } from "../../src/server/db/sql/open-sql-client";
import { verifyWebhookSignature } from "../../src/server/webhooks/webhook-signature";
import { insertWebhookSteps, WebhookStore } from "../../src/server/jobs/webhook-outbox";
import { librivoxClips, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";
import { startTestApp, v2JobForm, type TestApp } from "../helpers/test-app";
import { createTestDatabase, TEST_PROVIDERS, type TestDatabase } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";

const clips = librivoxClips();
const SECRET = "webhook-test-secret";
/** Loopback receivers are private addresses: the SSRF guard lets them through only when allowed. */
const WEBHOOK_ENV = {
  OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
  WEBHOOK_SIGNING_SECRET: SECRET,
  WEBHOOK_RETRY_BASE_MS: "50",
  WEBHOOK_RETRY_MAX_MS: "200",
  WEBHOOK_TIMEOUT_MS: "5000",
};

type Received = { method: string; url: URL; headers: IncomingHttpHeaders; body: Buffer };

/** A webhook receiver on 127.0.0.1 that records every request; `answer` decides each status. */
class Receiver {
  readonly requests: Received[] = [];
  answer: (request: Received) => number = () => 200;
  private readonly arrived = new EventEmitter();

  private constructor(private readonly server: http.Server) {}

  static async start(port = 0): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const request: Received = { method: req.method ?? "", url: new URL(req.url ?? "/", "http://receiver"), headers: req.headers, body: Buffer.concat(chunks) };
        const status = receiver!.answer(request);
        receiver!.requests.push(request);
        res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "not now");
        receiver!.arrived.emit("request", request);
      });
    });
    receiver = new Receiver(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(pathname: string): string {
    return `http://127.0.0.1:${this.port}${pathname}`;
  }

  /** The first request (already received or still to come) that `match` accepts. */
  next(match: (request: Received) => boolean, timeoutMs = 90_000): Promise<Received> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.arrived.off("request", onRequest);
        reject(new Error(`no matching webhook within ${timeoutMs} ms; got ${this.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`).join(", ") || "none"}`));
      }, timeoutMs);
      const onRequest = (request: Received) => {
        if (!match(request)) return;
        clearTimeout(timer);
        this.arrived.off("request", onRequest);
        resolve(request);
      };
      this.arrived.on("request", onRequest);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on (a receiver that is down), free to be listened on later. */
async function closedPort(): Promise<number> {
  const probe = await Receiver.start();
  const port = probe.port;
  await probe.close();
  return port;
}

async function submitV2(baseUrl: string, notificationConfig: unknown[]): Promise<string> {
  const response = await fetch(`${baseUrl}/v2/jobs`, {
    method: "POST",
    body: await v2JobForm(clips[0]!.path, { type: "transcription", transcription_config: { language: "en" }, notification_config: notificationConfig }),
  });
  const body = (await response.json()) as { id: string };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.id;
}

async function jobLog(baseUrl: string, jobId: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v2/jobs/${jobId}/log`);
  assert.equal(response.status, 200);
  return response.text();
}

function assertSigned(request: Received): void {
  assert.ok(verifyWebhookSignature(SECRET, request.body, request.headers["x-webhook-signature"] as string | undefined), "the signature is the HMAC of the body received");
}

/** Parses a multipart body as any receiver would. */
async function formOf(request: Received): Promise<FormData> {
  return new Response(new Uint8Array(request.body), { headers: { "content-type": String(request.headers["content-type"]) } }).formData();
}

for (const provider of TEST_PROVIDERS) {
  describe(`webhooks on ${provider}`, { timeout: 300_000 }, () => {
    let t: TestApp;
    let receiver: Receiver;

    before(async () => {
      receiver = await Receiver.start();
      t = await startTestApp(provider, WEBHOOK_ENV);
    });
    after(async () => {
      await t?.close();
      await receiver?.close();
    });

    it("notifies with the caller's auth header, the vendor's id and status, and a valid signature", async () => {
      const jobId = await submitV2(t.baseUrl, [{ url: receiver.url("/single?token=abc"), contents: ["transcript.txt"], auth_headers: ["Authorization: Bearer receiver-key"] }]);
      const request = await receiver.next((r) => r.url.pathname === "/single" && r.url.searchParams.get("id") === jobId);
      assert.equal(request.method, "POST");
      assert.equal(request.url.searchParams.get("status"), "success");
      assert.equal(request.url.searchParams.get("token"), "abc", "the caller's own query is kept");
      assert.equal(request.headers.authorization, "Bearer receiver-key");
      assert.match(String(request.headers["content-type"]), /^text\/plain/);
      assert.match(String(request.headers["user-agent"]), /webhooks/);
      assertSigned(request);
      const transcript = await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`)).text();
      assert.equal(request.body.toString("utf8"), transcript);

      // The attempt is in the job's log (query values hidden), and the echoed config hides the key.
      const log = await waitFor("the delivery in the job's log", 10_000, async () => {
        const text = await jobLog(t.baseUrl, jobId);
        return /webhook POST .*\/single\?token=\[redacted\] → 200 in \d+ ms \(attempt 1\)/.test(text) ? text : undefined;
      });
      assert.ok(!log.includes("abc"));
      const job = ((await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}`)).json()) as { job: { config: { notification_config: { auth_headers: string[] }[] } } }).job;
      assert.deepEqual(job.config.notification_config[0]!.auth_headers, ["Authorization: [redacted]"]);
      assert.equal(receiver.requests.filter((r) => r.url.searchParams.get("id") === jobId).length, 1);
    });

    it("sends several contents as multipart, none as an empty body, and unspecified as data_file", async () => {
      const jobId = await submitV2(t.baseUrl, [
        { url: receiver.url("/multi"), contents: ["jobinfo", "transcript.txt"], method: "PUT" },
        { url: receiver.url("/empty"), contents: [] },
        { url: receiver.url("/default") },
      ]);
      const forJob = (pathname: string) => (r: Received) => r.url.pathname === pathname && r.url.searchParams.get("id") === jobId;
      const [multi, empty, fallback] = await Promise.all([receiver.next(forJob("/multi")), receiver.next(forJob("/empty")), receiver.next(forJob("/default"))]);

      assert.equal(multi.method, "PUT");
      assert.match(String(multi.headers["content-type"]), /^multipart\/form-data; boundary=/);
      assertSigned(multi);
      const form = await formOf(multi);
      const jobinfo = JSON.parse(await (form.get("jobinfo") as File).text()) as { id: string; status: string; data_name: string };
      assert.equal(jobinfo.id, jobId);
      assert.equal(jobinfo.status, "done");
      assert.equal(jobinfo.data_name, path.basename(clips[0]!.path));
      const text = await (form.get("transcript.txt") as File).text();
      assert.equal(text, await (await fetch(`${t.baseUrl}/v2/jobs/${jobId}/transcript?format=txt`)).text());

      assert.equal(empty.body.length, 0);
      assert.equal(empty.headers["content-type"], undefined);
      assertSigned(empty);

      const dataFile = (await formOf(fallback)).get("data_file") as File;
      const document = JSON.parse(await dataFile.text()) as { job: { id: string }; results: unknown[] };
      assert.equal(document.job.id, jobId);
      assert.ok(document.results.length > 0);
    });

    it("keeps retrying a receiver that is down, and delivers once it comes up; every attempt is in the job's log", async () => {
      const port = await closedPort();
      const jobId = await submitV2(t.baseUrl, [{ url: `http://127.0.0.1:${port}/late`, contents: ["jobinfo"] }]);
      await waitFor("two refused attempts in the job's log", 90_000, async () => {
        const log = await jobLog(t.baseUrl, jobId);
        return (log.match(/webhook POST http:\/\/127\.0\.0\.1:\d+\/late → failed after \d+ ms: .*ECONNREFUSED.*; retry in/g) ?? []).length >= 2 ? log : undefined;
      });
      const late = await Receiver.start(port);
      try {
        const request = await late.next((r) => r.url.searchParams.get("id") === jobId, 30_000);
        assertSigned(request);
        assert.equal((JSON.parse(request.body.toString("utf8")) as { id: string }).id, jobId);
        const log = await waitFor("the successful attempt in the log", 10_000, async () => {
          const text = await jobLog(t.baseUrl, jobId);
          return / → 200 in \d+ ms \(attempt \d+\)/.test(text) ? text : undefined;
        });
        const attempts = [...log.matchAll(/\(attempt (\d+)\)/g)].map((match) => Number(match[1]));
        assert.ok(attempts.length >= 3);
        assert.deepEqual(attempts, attempts.map((_, i) => i + 1), `one line per attempt, in order:\n${log}`);
        assert.equal(late.requests.length, 1);
      } finally {
        await late.close();
      }
    });

    it("refuses a private destination that is not allowed (SSRF guard) and does not retry it", async () => {
      const jobId = await submitV2(t.baseUrl, [{ url: "http://169.254.169.254/latest/meta-data", contents: [] }]);
      const log = await waitFor("the refusal in the job's log", 90_000, async () => {
        const text = await jobLog(t.baseUrl, jobId);
        return text.includes("→ refused") ? text : undefined;
      });
      assert.match(log, /webhook POST http:\/\/169\.254\.169\.254\/latest\/meta-data → refused: .*; not retried \(attempt 1\)/);
    });

    it("posts the async API's job status to callback_url", async () => {
      const form = new FormData();
      form.append("file", await openAsBlob(clips[1]!.path), path.basename(clips[1]!.path));
      form.append("language_code", "en-US");
      form.append("callback_url", receiver.url("/async-callback"));
      const response = await fetch(`${t.baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
      assert.equal(response.status, 201);
      const { job_name: name } = (await response.json()) as { job_name: string };
      const request = await receiver.next((r) => r.url.pathname === "/async-callback" && r.body.includes(name));
      assert.equal(request.method, "POST");
      assert.match(String(request.headers["content-type"]), /^application\/json/);
      assertSigned(request);
      const status = (await (await fetch(`${t.baseUrl}/transcribe-job/${name}`)).json()) as Record<string, unknown>;
      assert.deepEqual(JSON.parse(request.body.toString("utf8")), status);
      assert.equal(status.status, "COMPLETED");

      const bad = new FormData();
      bad.append("file", await openAsBlob(clips[1]!.path), "x.wav");
      bad.append("callback_url", "file:///etc/passwd");
      const refused = await fetch(`${t.baseUrl}/transcribe-batch-async`, { method: "POST", body: bad });
      assert.equal(refused.status, 400);
    });

    it("calls a tRPC batch's webhook once, when the whole batch has finished", async () => {
      const caller = createCaller({ app: t.app, principal: OPERATOR });
      const media = await Promise.all(
        clips.slice(0, 2).map((clip) => t.app.media.ingest(createReadStream(clip.path), { originalName: path.basename(clip.path), contentType: "audio/wav" })),
      );
      const batch = await caller.jobs.createBatch({
        mediaFileIds: media.map((file) => file.id),
        language: "en",
        webhook: { url: receiver.url("/batch"), authHeaders: ["X-Receiver-Key: k1"] },
      });
      const request = await receiver.next((r) => r.url.pathname === "/batch" && r.body.includes(batch.id));
      assert.equal(request.headers["x-receiver-key"], "k1");
      assertSigned(request);
      const body = JSON.parse(request.body.toString("utf8")) as { batchId: string; status: string; counts: Record<string, number>; finishedAt: string };
      assert.equal(body.batchId, batch.id);
      assert.equal(body.status, "DONE");
      assert.deepEqual(body.counts, { total: 2, done: 2, failed: 0, cancelled: 0 });
      assert.ok(!Number.isNaN(Date.parse(body.finishedAt)));
      // The success is recorded (with its log line) once the receiver has answered.
      await waitFor("the delivery in the batch's log", 10_000, async () => ((await caller.jobs.log({ id: batch.id })).some((line) => /webhook POST .*\/batch → 200/.test(line.message)) ? true : undefined));
      await assert.rejects(caller.jobs.createBatch({ mediaFileIds: [media[0]!.id], webhook: { url: "gopher://x" } }), /http or https/);
    });
  });

  describe(`a webhook promised before a crash is delivered after the restart (${provider})`, { timeout: 300_000 }, () => {
    let database: TestDatabase;
    let dataDir: TempDir;
    let receiver: Receiver;
    let server: ServerProcess | undefined;

    before(async () => {
      database = await createTestDatabase(provider);
      dataDir = await makeTempDir("webhook-restart-");
      receiver = await Receiver.start();
    });
    after(async () => {
      await server?.kill("SIGKILL");
      await receiver?.close();
      await database?.drop();
      await dataDir?.cleanup();
    });

    it("survives SIGKILL between a failed attempt and the delivery", async () => {
      const env = { ...WEBHOOK_ENV, DATA_DIR: dataDir.dir, DATABASE_URL: database.url, WEBHOOK_RETRY_BASE_MS: "200", WEBHOOK_RETRY_MAX_MS: "500", WEBHOOK_TIMEOUT_MS: "2000" };
      server = await startServerProcess({ env });
      let killed = false;
      receiver.answer = () => (killed ? 200 : 503);
      const jobId = await submitV2(server.baseUrl, [{ url: receiver.url("/crash"), contents: ["jobinfo"] }]);
      // The job has finished and its webhook has been tried, answered 503 and rescheduled: kill the server.
      await waitFor("a failed attempt in the job's log", 90_000, async () => ((await jobLog(server!.baseUrl, jobId)).includes("→ 503") ? true : undefined));
      await server.kill("SIGKILL");
      killed = true;
      const before = receiver.requests.length;

      server = await startServerProcess({ env });
      const delivered = await receiver.next((r) => r.url.searchParams.get("id") === jobId && receiver.requests.indexOf(r) >= before);
      assertSigned(delivered);
      const log = await waitFor("the delivery in the job's log", 10_000, async () => {
        const text = await jobLog(server!.baseUrl, jobId);
        return / → 200 in \d+ ms/.test(text) ? text : undefined;
      });
      assert.match(log, /webhook POST http:\/\/127\.0\.0\.1:\d+\/crash → 503 in \d+ ms: not now; retry in/);
      // Identical bytes on every attempt: the body was rendered once and kept.
      const all = receiver.requests.filter((r) => r.url.searchParams.get("id") === jobId);
      assert.ok(all.length >= 2);
      for (const request of all) assert.deepEqual(request.body, all[0]!.body);
      assert.equal(all.filter((r) => receiver.requests.indexOf(r) >= before).length, 1, "one delivery after the restart");
    });
  });
}

describe("two control planes on one PostgreSQL database deliver each webhook exactly once", { skip: !TEST_PROVIDERS.includes("postgresql"), timeout: 300_000 }, () => {
  const JOBS = 6;
  let a: TestApp;
  let b: TestApp;
  let receiver: Receiver;
  let db: pg.Client;

  before(async () => {
    receiver = await Receiver.start();
    a = await startTestApp("postgresql", WEBHOOK_ENV);
    b = await startTestApp("postgresql", { ...WEBHOOK_ENV, DATABASE_URL: a.databaseUrl, DATA_DIR: a.dataDir });
    db = new pg.Client({ connectionString: a.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await b?.close();
    await a?.close();
    await receiver?.close();
  });

  it("sends every callback once although both replicas hear every job finish", async () => {
    const names: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const target = i % 2 === 0 ? a : b;
      const form = new FormData();
      form.append("file", await openAsBlob(clips[i % clips.length]!.path), `clip-${i}.wav`);
      form.append("callback_url", receiver.url(`/replica?n=${i}`));
      const response = await fetch(`${target.baseUrl}/transcribe-batch-async`, { method: "POST", body: form });
      assert.equal(response.status, 201);
      names.push(((await response.json()) as { job_name: string }).job_name);
    }
    const ids = names.map((name) => name.replace(/^transcribe-/, ""));
    await waitFor("every webhook delivered", 180_000, async () => {
      const rows = await db.query<{ status: string }>(`SELECT "status" FROM "WebhookDelivery" WHERE "jobId" = ANY($1)`, [ids]);
      return rows.rows.length === JOBS && rows.rows.every((row) => row.status === "delivered") ? true : undefined;
    });
    for (const name of names) {
      const received = receiver.requests.filter((r) => r.body.includes(name));
      assert.equal(received.length, 1, `${name} was received ${received.length} times`);
    }
    const logged = await db.query<{ jobId: string; count: string }>(
      `SELECT "jobId", COUNT(*) AS count FROM "JobLog" WHERE "jobId" = ANY($1) AND "message" LIKE 'webhook POST % → 200 %' GROUP BY "jobId"`,
      [ids],
    );
    assert.equal(logged.rows.length, JOBS);
    for (const row of logged.rows) assert.equal(Number(row.count), 1);
  });

  it("never hands the same attempt to two claims racing on two connections", async () => {
    const first = openSqlClient(a.databaseUrl);
    const second = openSqlClient(a.databaseUrl);
    try {
      const ROWS = 200;
      const now = new Date();
      const jobId = "race-job-0000000000";
      await first.batch([
        { sql: `INSERT INTO "Job" ("id", "type", "status", "params", "finishedAt", "updatedAt") VALUES (?, 'transcribe', 'DONE', '{}', ?, ?)`, params: [jobId, now, now] },
        ...insertWebhookSteps(jobId, Array.from({ length: ROWS }, (_, i) => ({ kind: "callback" as const, url: `http://127.0.0.1:9/${i}` }))),
      ]);
      const stores = [new WebhookStore(first), new WebhookStore(second)];
      const claimed: string[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          for (;;) {
            const rows = await stores[i % 2]!.claimDue(7, 60_000);
            if (rows.length === 0) return;
            claimed.push(...rows.map((row) => row.id));
          }
        }),
      );
      assert.equal(claimed.length, ROWS);
      assert.equal(new Set(claimed).size, ROWS, "each row claimed once");
      // Leased: nothing is due again until the lease runs out.
      assert.deepEqual(await stores[0]!.claimDue(10, 60_000), []);
      assert.equal((await stores[1]!.claimDue(ROWS, 60_000, new Date(Date.now() + 61_000))).length, ROWS, "due again after the lease");
    } finally {
      await first.close();
      await second.close();
    }
  });
});
