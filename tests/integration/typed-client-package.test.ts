import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startTestApp, v2JobForm, type TestApp } from "../helpers/test-app";
import { waitFor } from "../helpers/wait-for";
import { GATED_ENGINE } from "../helpers/gated-engine";
import { toneWav } from "../helpers/wav";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const PROJECT_NODE_MODULES = path.join(ROOT, "node_modules");

/**
 * Another project, as its author would write it: the platform as a dependency (linked, as
 * `npm install ../transcribe-platform` does), TypeScript's default strictness with Node's
 * module resolution and no skipLibCheck, and a client built on `import type { AppRouter }`.
 */
const TSCONFIG = { compilerOptions: { strict: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", noEmit: true } };

const CLIENT = `import { createTRPCClient, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "transcribe-platform/trpc";

const client = createTRPCClient<AppRouter>({
  links: [httpBatchLink({ url: process.env.TRPC_URL ?? "", transformer: superjson, headers: { authorization: \`Bearer \${process.env.API_KEY ?? ""}\` } })],
});

const capacity = await client.system.capacity.query();
const maxEngines: number = capacity.maxEngines;
const { job } = await client.jobs.get.query({ id: process.env.JOB_ID ?? "" });
const status: "QUEUED" | "RUNNING" | "DONE" | "FAILED" | "CANCELLED" = job.status;
const created: Date = job.createdAt;
const page = await client.jobs.list.query({ limit: 5 });
console.log(JSON.stringify({ maxEngines, status, createdIsDate: created instanceof Date, listed: page.jobs.map((j) => j.id) }));
`;

/** Calls the router gets wrong: each must be a compile error, or the types say nothing. */
const WRONG = `import { createTRPCClient, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "transcribe-platform/trpc";

const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: "http://127.0.0.1:1/api/trpc", transformer: superjson })] });
export const wrongInput = client.jobs.get.query({ id: 42 });
export const noSuchProcedure = client.jobs.nonexistent.query();
export const wrongOutput: string = (await client.system.capacity.query()).maxEngines;
`;

/**
 * tRPC's own client declarations import types from "ws" (its WebSocket link), which only
 * @types/ws provides; a project without skipLibCheck installs that. This machine has no
 * network, so the scratch project declares the two names tRPC uses instead.
 */
const WS_TYPES = `declare module "ws" {
  namespace ws {
    class WebSocket {}
    class WebSocketServer {}
  }
  export default ws;
}
`;

type TscError = { file: string; line: number; code: string };

function tscErrors(output: string): TscError[] {
  return [...output.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+):/gm)].map((m) => ({ file: path.basename(m[1]!), line: Number(m[2]), code: m[3]! }));
}

describe("a typed tRPC client in another project (import type { AppRouter } from \"transcribe-platform/trpc\")", () => {
  let scratch: string;
  let t: TestApp;
  let tscOutput = "";
  let tscExit = 0;

  before(async () => {
    // The declarations the package's "exports" points at, from the current source.
    await run(process.execPath, [path.join(ROOT, "scripts/build-trpc-types.mjs")], { cwd: ROOT });

    scratch = await fs.mkdtemp(path.join(os.tmpdir(), "typed-trpc-client-"));
    await fs.writeFile(path.join(scratch, "package.json"), JSON.stringify({ name: "scratch-client", private: true, type: "module", dependencies: { "transcribe-platform": `file:${ROOT}` } }, null, 2));
    await fs.writeFile(path.join(scratch, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
    await fs.writeFile(path.join(scratch, "client.ts"), CLIENT);
    await fs.writeFile(path.join(scratch, "wrong.ts"), WRONG);
    await fs.writeFile(path.join(scratch, "ws.d.ts"), WS_TYPES);
    // node_modules as npm would lay it out: the linked project, and the client's own packages.
    const modules = path.join(scratch, "node_modules");
    await fs.mkdir(path.join(modules, "@trpc"), { recursive: true });
    await fs.mkdir(path.join(modules, "@types"), { recursive: true });
    await fs.symlink(ROOT, path.join(modules, "transcribe-platform"), "dir");
    for (const name of ["@trpc/client", "superjson", "typescript", "@types/node"]) {
      await fs.symlink(path.join(PROJECT_NODE_MODULES, name), path.join(modules, name), "dir");
    }

    // One compilation of both files: the client must be clean and every wrong call an error.
    try {
      await run(process.execPath, [path.join(modules, "typescript/bin/tsc"), "-p", scratch], { cwd: scratch });
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      tscExit = failed.code ?? 1;
      tscOutput = `${failed.stdout ?? ""}${failed.stderr ?? ""}`;
    }

    t = await startTestApp("sqlite", { API_KEYS: "client-key", ASR_ENGINE_MODULE: GATED_ENGINE });
  });

  after(async () => {
    await t?.close();
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  });

  it("type-checks the client with default settings and no skipLibCheck", () => {
    const errors = tscErrors(tscOutput);
    assert.deepEqual(errors.filter((e) => e.file !== "wrong.ts"), [], tscOutput);
    // tsc's exit status is 2 only because of wrong.ts, checked next.
    assert.equal(tscExit, errors.length > 0 ? 2 : 0, tscOutput);
  });

  it("refuses calls the router does not accept: a wrong input type, an unknown procedure, a misused output", () => {
    const lines = WRONG.split("\n");
    const lineOf = (needle: string) => lines.findIndex((line) => line.includes(needle)) + 1;
    const wrongLines = tscErrors(tscOutput).filter((e) => e.file === "wrong.ts").map((e) => e.line);
    for (const needle of ["{ id: 42 }", "nonexistent", "wrongOutput"]) {
      assert.ok(wrongLines.includes(lineOf(needle)), `expected a compile error on wrong.ts line ${lineOf(needle)} (${needle}):\n${tscOutput}`);
    }
  });

  it("runs: the client (tsx) calls the server and gets typed answers, superjson dates included", async () => {
    const form = await v2JobForm(await writeTone(scratch));
    const created = await fetch(`${t.baseUrl}/v2/jobs`, { method: "POST", headers: { Authorization: "Bearer client-key" }, body: form });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as { id: string };
    await waitFor("the job to finish", 60_000, async () => {
      const { job } = (await (await fetch(`${t.baseUrl}/v2/jobs/${id}`, { headers: { Authorization: "Bearer client-key" } })).json()) as { job: { status: string } };
      return job.status === "running" ? undefined : job.status;
    });

    const { stdout } = await run(process.execPath, [path.join(PROJECT_NODE_MODULES, "tsx/dist/cli.mjs"), "client.ts"], {
      cwd: scratch,
      env: { ...process.env, TRPC_URL: `${t.baseUrl}/api/trpc`, API_KEY: "client-key", JOB_ID: id },
    });
    const answer = JSON.parse(stdout.trim().split("\n").at(-1)!) as { maxEngines: number; status: string; createdIsDate: boolean; listed: string[] };
    assert.deepEqual(answer, { maxEngines: 2, status: "DONE", createdIsDate: true, listed: [id] });
  });
});

async function writeTone(dir: string): Promise<string> {
  const file = path.join(dir, "tone.wav");
  await fs.writeFile(file, toneWav({ durationS: 2 }));
  return file;
}
