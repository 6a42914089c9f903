import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { AppError } from "../../src/server/errors";
import { makeAudio, makeTempDir, type TempDir } from "../helpers/fixtures";
import { startTestApp, v2JobForm, type TestApp } from "../helpers/test-app";
import { TEST_PROVIDERS } from "../helpers/test-database";
import { waitFor } from "../helpers/wait-for";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const INSTANT_ENGINE = path.join(ROOT, "bench/instant-engine.ts");

/** Job history pruning (SM_BATCH_WORKER_MAX_JOB_HISTORY) must not delete a webhook the outbox still owes. */
for (const provider of TEST_PROVIDERS) {
  describe(`job history and undelivered webhooks on ${provider}`, () => {
    let t: TestApp;
    let files: TempDir;
    let audio: string;
    let receiver: http.Server;
    let receiverUp = false;
    const delivered: string[] = [];

    before(async () => {
      receiver = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          if (receiverUp) delivered.push(new URL(req.url ?? "/", "http://receiver").searchParams.get("id") ?? "");
          res.writeHead(receiverUp ? 200 : 503).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      t = await startTestApp(provider, {
        ASR_ENGINE_MODULE: INSTANT_ENGINE,
        SM_BATCH_WORKER_MAX_JOB_HISTORY: "1",
        OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
        WEBHOOK_RETRY_BASE_MS: "50",
        WEBHOOK_RETRY_MAX_MS: "100",
      });
      files = await makeTempDir();
      audio = await makeAudio([{ kind: "sine", durationS: 1 }], { dir: files.dir, name: "a.wav" });
    });
    after(async () => {
      await t?.close();
      await files?.cleanup();
      receiver?.closeAllConnections();
      await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    });

    async function finishedJob(notifyUrl?: string): Promise<string> {
      const config = { type: "transcription", transcription_config: { language: "en" }, ...(notifyUrl ? { notification_config: [{ url: notifyUrl, contents: [] }] } : {}) };
      const response = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", body: await v2JobForm(audio, config) });
      assert.equal(response.status, 201);
      const { id } = (await response.json()) as { id: string };
      await waitFor(`job ${id} done`, 30_000, async () => ((await t.app.jobs.get(id)).status === "DONE" ? true : undefined));
      return id;
    }

    const exists = async (id: string) =>
      t.app.jobs.get(id).then(
        () => true,
        (error: unknown) => {
          if (error instanceof AppError && error.code === "NOT_FOUND") return false;
          throw error;
        },
      );

    it("keeps a job until its webhook is delivered, then prunes it", async () => {
      const { port } = receiver.address() as AddressInfo;
      const owing = await finishedJob(`http://127.0.0.1:${port}/hook`);
      const older = await finishedJob();
      await finishedJob();
      // The prune after the third job removed the plain older job, not the one still owing its webhook.
      await waitFor("the older plain job pruned", 30_000, async () => (!(await exists(older)) ? true : undefined));
      assert.equal(await exists(owing), true, "a job whose webhook is undelivered was pruned");

      receiverUp = true;
      await waitFor("the webhook delivered", 30_000, () => (delivered.includes(owing) ? true : undefined));
      await finishedJob();
      await waitFor("the delivered job pruned", 30_000, async () => (!(await exists(owing)) ? true : undefined));
    });
  });
}
