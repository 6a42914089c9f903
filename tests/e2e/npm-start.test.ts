import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD } from "../../scripts/malloc-env.mjs";
import { openDatabase } from "../../src/server/db/client";
import { librivoxClips, makeTempDir, type TempDir } from "../helpers/fixtures";
import { v2JobForm } from "../helpers/test-app";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe("npm start (the embedded default, with the dashboard)", () => {
  let dataDir: TempDir;
  after(() => dataDir?.cleanup());

  it("builds if needed, answers /live within two minutes, serves the dashboard, and drains on SIGTERM", { timeout: 240_000 }, async () => {
    dataDir = await makeTempDir("npm-start-");
    const port = await freePort();
    const started = Date.now();
    const child = spawn(process.execPath, [path.join(ROOT, "scripts/start.mjs"), "--parallel", "2"], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir.dir, LOG_LEVEL: "info", NODE_ENV: "production" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    try {
      let live = false;
      while (Date.now() - started < 120_000 && child.exitCode === null) {
        live = await fetch(`${base}/live`).then((r) => r.status === 200, () => false);
        if (live) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(live, `/live did not answer 200 within 120 s:\n${output}`);

      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<h1>Jobs<\/h1>/, "the jobs page is the dashboard's home");
      assert.match(html, /<nav aria-label="Main">/);
      const jobs = (await (await fetch(`${base}/jobs`)).json()) as { max_engines: number };
      assert.equal(jobs.max_engines, 2, "--parallel reaches the server through npm start");
      // The server process (start.mjs's child) runs with glibc's thresholds set (scripts/malloc-env.mjs).
      const serverPid = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/)[0];
      const serverEnv = fs.readFileSync(`/proc/${serverPid}/environ`, "utf8").split("\0");
      assert.ok(serverEnv.includes(`MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD}`), `the server's environment sets MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD}`);
      assert.ok(serverEnv.includes(`MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD}`), `the server's environment sets MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD}`);

      // A job accepted just before SIGTERM still finishes: the first signal drains.
      const response = await fetch(`${base}/v2/jobs`, { method: "POST", body: await v2JobForm(librivoxClips()[0]!.path) });
      assert.equal(response.status, 201);
      const { job_id: jobId } = (await response.json()) as { job_id: string };
      child.kill("SIGTERM");
      assert.equal(await exited, 0, output);
      const db = await openDatabase(`file:${path.join(dataDir.dir, "transcribe.db")}`);
      try {
        const job = await db.prisma.job.findUnique({ where: { id: jobId } });
        assert.equal(job?.status, "DONE");
      } finally {
        await db.close();
      }
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
