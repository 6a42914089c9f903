import type { AddressInfo } from "node:net";
import { openAsBlob } from "node:fs";
import path from "node:path";
import { createApp, type App } from "../../src/server/app";
import type { DatabaseProvider } from "../../src/server/db/client";
import { loadConfig } from "../../src/server/env";
import { createHttpServer } from "../../src/server/http/create-server";
import { createLogger, type Logger } from "../../src/server/logger";
import { createTestDatabase } from "./test-database";
import { makeTempDir } from "./fixtures";

export type TestApp = {
  app: App;
  baseUrl: string;
  dataDir: string;
  databaseUrl: string;
  /** Stops the server and app and drops the database. */
  close(): Promise<void>;
};

/**
 * The real application and HTTP server in this process, on a fresh database of the given
 * provider (or, with `env.DATABASE_URL`, on that one, left in place: a second replica) and
 * a temp DATA_DIR, listening on a free loopback port.
 */
export async function startTestApp(provider: DatabaseProvider, env: Record<string, string> = {}, options: { logger?: Logger } = {}): Promise<TestApp> {
  const database = env.DATABASE_URL ? { url: env.DATABASE_URL, drop: async () => undefined } : await createTestDatabase(provider);
  const temp = await makeTempDir("transcribe-app-");
  const config = loadConfig({ DATA_DIR: temp.dir, SERVE_UI: "false", LOG_LEVEL: "silent", PARALLEL: "2", ...env, DATABASE_URL: database.url }, []);
  const app = await createApp(config, { logger: options.logger ?? createLogger(env.LOG_LEVEL === "debug" ? "debug" : "silent") });
  const server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  let closed = false;
  return {
    app,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir: temp.dir,
    databaseUrl: database.url,
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close({ force: true });
      await database.drop();
      await temp.cleanup();
    },
  };
}

/** A multipart body for POST /v2/jobs. */
export async function v2JobForm(mediaPath: string, config: unknown = { type: "transcription", transcription_config: { language: "en" } }): Promise<FormData> {
  const form = new FormData();
  form.append("config", typeof config === "string" ? config : JSON.stringify(config));
  form.append("data_file", await openAsBlob(mediaPath), path.basename(mediaPath));
  return form;
}

/** Polls GET /v2/jobs/{id} until the status is final; returns the job object. */
export async function waitForV2Job(baseUrl: string, jobId: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await fetch(`${baseUrl}/v2/jobs/${jobId}`);
    const body = (await response.json()) as { job: Record<string, unknown> };
    if (["DONE", "REJECTED", "DELETED"].includes(String(body.job.status))) return body.job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${String(body.job.status)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
