import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, parseCommandLine } from "../../src/server/env";

describe("environment and command line", () => {
  it("defaults to SQLite under DATA_DIR on port 18000", () => {
    const config = loadConfig({ DATA_DIR: "/tmp/x" }, []);
    assert.equal(config.databaseUrl, `file:${path.join("/tmp/x", "transcribe.db")}`);
    assert.equal(config.port, 18000);
    assert.equal(config.maxJobHistory, 0);
    assert.equal(config.asrModelCache, path.join("/tmp/x", "models"));
    assert.ok(config.parallel >= 1);
  });

  it("prefers SM_BATCH_WORKER_LISTEN_PORT over PORT", () => {
    assert.equal(loadConfig({ PORT: "3000" }, []).port, 3000);
    assert.equal(loadConfig({ PORT: "3000", SM_BATCH_WORKER_LISTEN_PORT: "18001" }, []).port, 18001);
  });

  it("takes --parallel from the command line over PARALLEL", () => {
    assert.equal(loadConfig({ PARALLEL: "3" }, []).parallel, 3);
    assert.equal(loadConfig({ PARALLEL: "3" }, ["--parallel", "5"]).parallel, 5);
    assert.equal(loadConfig({}, ["--parallel=7"]).parallel, 7);
  });

  it("reads --all-formats with and without a directory, and accepts --run-mode http", () => {
    assert.deepEqual(parseCommandLine(["--all-formats", "/out", "--run-mode", "http"]), { allFormatsDir: "/out" });
    assert.deepEqual(parseCommandLine(["--all-formats", "--parallel=2"]), { allFormatsDir: "/tmp/jobs", parallel: 2 });
    assert.throws(() => parseCommandLine(["--run-mode", "batch"]), ConfigError);
  });

  it("fails fast naming the bad variable", () => {
    assert.throws(() => loadConfig({ PARALLEL: "zero" }, []), (error: unknown) => error instanceof ConfigError && /PARALLEL/.test(error.message));
    assert.throws(() => loadConfig({ DATABASE_URL: "mysql://x" }, []), (error: unknown) => error instanceof ConfigError && /DATABASE_URL/.test(error.message));
    assert.throws(() => loadConfig({ SERVE_UI: "maybe" }, []), (error: unknown) => error instanceof ConfigError && /SERVE_UI/.test(error.message));
    assert.throws(() => loadConfig({}, ["--parallel", "0"]), (error: unknown) => error instanceof ConfigError && /--parallel/.test(error.message));
  });

  it("switches to PostgreSQL through DATABASE_URL and parses API keys", () => {
    const config = loadConfig({ DATABASE_URL: "postgresql://u@h/db", API_KEYS: "a, b,," }, []);
    assert.equal(config.databaseUrl, "postgresql://u@h/db");
    assert.deepEqual(config.apiKeys, [{ key: "a", userId: null }, { key: "b", userId: null }]);
  });
});
