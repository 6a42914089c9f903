/** Real server processes for the benchmarks, with the engine that answers at once. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServerProcess, type ServerProcess } from "../../tests/helpers/server-process";
import { createTestDatabase, type TestDatabase } from "../../tests/helpers/test-database";
import { track } from "./lifecycle";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type DatabaseKind = "sqlite" | "postgres";

/** A fresh PostgreSQL database (127.0.0.1:5432, trust auth) for postgres; SQLite needs none (DATA_DIR holds it). */
export async function databaseFor(kind: DatabaseKind): Promise<TestDatabase | null> {
  return kind === "postgres" ? createTestDatabase("postgresql") : null;
}

export type InstantServerOptions = {
  dataDir: string;
  /** Unset: SQLite in dataDir. */
  databaseUrl?: string;
  /** Engine slots. */
  parallel: number;
  env?: Record<string, string>;
};

/**
 * Starts src/server/main.ts with bench/instant-engine.ts (ASR_ENGINE_MODULE), so a bench
 * measures the control plane and nothing of speech recognition.
 */
export async function startInstantServer(options: InstantServerOptions): Promise<ServerProcess> {
  const server = await startServerProcess({
    env: {
      DATA_DIR: options.dataDir,
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
      PARALLEL: String(options.parallel),
      ASR_ENGINE_MODULE: path.join(ROOT, "bench/instant-engine.ts"),
      // "info", not "warn": startServerProcess waits for the info-level "listening" line, and
      // the statistics line comes at info when the server stops.
      LOG_LEVEL: "info",
      ...options.env,
    },
  });
  // Tracked only once listening (startServerProcess hides the child until then); a Ctrl-C
  // during start-up reaches the server directly, as it shares the terminal's process group.
  track(server.child);
  return server;
}
