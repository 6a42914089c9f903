import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import {
  bindMigrationAwareSqlAdapterFactory,
  type ErrorRegistry,
} from "@prisma/driver-adapter-utils";
import type { SchemaEngine, SchemaFilter } from "@prisma/schema-engine-wasm";
import type { EngineAdapterFactory } from "./engine-adapters";

export type { MigrationList, SchemaEngine } from "@prisma/schema-engine-wasm";

/** No externally managed tables or enums: the engine owns the whole schema. */
export const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

/** A running engine bound to one adapter factory. */
export type SchemaEngineSession = {
  /** Runs an engine command, turning engine and driver errors into readable `Error`s. */
  run<T>(command: (engine: SchemaEngine) => Promise<T>): Promise<T>;
  /** Frees the engine and releases every connection / shadow database. Idempotent. */
  close(): Promise<void>;
};

type SchemaEngineClass = { new: typeof SchemaEngine.new };
type WasmGlue = {
  SchemaEngine: SchemaEngineClass;
  __wbg_set_wasm(exports: WebAssembly.Exports): void;
};

let engineClass: Promise<SchemaEngineClass> | undefined;
/** The last Rust panic message, reported by the glue through PRISMA_WASM_PANIC_REGISTRY. */
let lastPanicMessage: string | undefined;

/** Timers the engine started and has not seen fire, and how many sessions are open. */
const pendingTimers = new Set<ReturnType<typeof setTimeout>>();
let openSessions = 0;

/**
 * The engine arms timeouts (10 s on PostgreSQL) through the glue's `setTimeout` import and never
 * clears them, which keeps a finished CLI or test process alive. They are tracked here and
 * cleared once no session is open: a freed engine has nothing left to time out.
 */
function withTrackedTimers(glue: WebAssembly.ModuleImports): WebAssembly.ModuleImports {
  const imports: WebAssembly.ModuleImports = { ...glue };
  for (const key of Object.keys(glue).filter((name) => name.startsWith("__wbg_setTimeout_"))) {
    imports[key] = (callback: () => void, ms: number) => {
      const timer = setTimeout(() => {
        pendingTimers.delete(timer);
        callback();
      }, ms >>> 0);
      pendingTimers.add(timer);
      return timer;
    };
  }
  return imports;
}

function clearEngineTimersIfIdle(): void {
  if (openSessions > 0) return;
  for (const timer of pendingTimers) clearTimeout(timer);
  pendingTimers.clear();
}

/**
 * Instantiates the wasm module once per process. The package entry imports the `.wasm` file as
 * an ES module, which Node 20 only allows behind --experimental-wasm-modules, so the bindgen
 * glue is wired to a manually compiled instance instead (as Prisma's own CLI does). A second
 * instantiation would break the glue's module-level state, hence the cache.
 */
function loadEngineClass(): Promise<SchemaEngineClass> {
  engineClass ??= (async () => {
    // The glue reports Rust panics through this global; without it a panic turns into an
    // unrelated TypeError.
    const globals = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
    globals.PRISMA_WASM_PANIC_REGISTRY ??= {
      set_message(message: string) {
        lastPanicMessage = `RuntimeError: ${message}`;
      },
    };
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const glue = (await import("@prisma/schema-engine-wasm/schema_engine_bg")) as unknown as WasmGlue;
    // Copied into a fresh Uint8Array: WebAssembly wants an ArrayBuffer-backed view, not a Buffer.
    const bytes = new Uint8Array(await readFile(path.join(path.dirname(gluePath), "schema_engine_bg.wasm")));
    const imports = { "./schema_engine_bg.js": withTrackedTimers(glue as unknown as WebAssembly.ModuleImports) };
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
    glue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return glue.SchemaEngine;
  })().catch((error: unknown) => {
    engineClass = undefined; // let a later call retry instead of caching the failure
    throw error;
  });
  return engineClass;
}

type EngineLogLine = { level?: string; fields?: { message?: string } };

function forwardEngineLog(log: ((line: string) => void) | undefined, raw: string): void {
  if (!log) return;
  let parsed: EngineLogLine;
  try {
    parsed = JSON.parse(raw) as EngineLogLine;
  } catch {
    return;
  }
  // INFO and below is per-statement chatter; warnings and errors are worth surfacing.
  if (parsed.level === "WARN" || parsed.level === "ERROR") {
    log(`schema-engine ${parsed.level.toLowerCase()}: ${parsed.fields?.message ?? raw}`);
  }
}

/**
 * Driver errors cross the wasm boundary as "External error id#N"; the original error waits in
 * the adapter's registry, so it is fetched and appended to keep the real cause visible.
 */
function explainEngineError(error: unknown, registry: ErrorRegistry): Error {
  const base = error instanceof Error ? error : new Error(String(error));
  if (base.message === "unreachable" && lastPanicMessage) {
    return new Error(`Schema engine panicked: ${lastPanicMessage}`, { cause: error });
  }
  const causes: string[] = [];
  for (const match of base.message.matchAll(/External error id#(\d+)/g)) {
    const record = registry.consumeError(Number(match[1]));
    if (!record) continue;
    const inner = record.error;
    causes.push(inner instanceof Error ? inner.message : JSON.stringify(inner));
  }
  const code = (error as { code?: unknown }).code;
  const head = typeof code === "string" ? `${code}: ` : "";
  // The engine appends a Rust span trace ("   0: sql_schema_connector::..."); only the migration
  // it was working on is worth keeping from it.
  const [text, trace = ""] = base.message.split(/\n\s+0: /, 2);
  const migration = /migration_name="([^"]+)"/.exec(trace)?.[1];
  const message = (migration && !text!.includes(migration) ? `Migration ${migration} failed: ` : "") + text!.trim();
  const suffix = causes.length > 0 ? `\nCaused by: ${causes.join("\nCaused by: ")}` : "";
  const wrapped = new Error(`${head}${message}${suffix}`, { cause: error });
  return Object.assign(wrapped, typeof code === "string" ? { code } : {});
}

/**
 * Starts the wasm schema engine on `factory`. `datamodel` is only needed by commands that read
 * the schema from the constructor (none of ours do: `diff` and `applyMigrations` take it inline).
 */
export async function openSchemaEngine(
  factory: EngineAdapterFactory,
  opts: { log?: (line: string) => void; datamodel?: { path: string; content: string } } = {},
): Promise<SchemaEngineSession> {
  const Engine = await loadEngineClass();
  const bound = bindMigrationAwareSqlAdapterFactory(factory);
  const datamodels = opts.datamodel ? [[opts.datamodel.path, opts.datamodel.content] as [string, string]] : undefined;

  let engine: SchemaEngine;
  try {
    engine = await Engine.new({ datamodels }, (line: string) => forwardEngineLog(opts.log, line), bound);
  } catch (error) {
    clearEngineTimersIfIdle();
    await factory.cleanup();
    throw explainEngineError(error, bound.errorRegistry);
  }

  openSessions++;
  let closing: Promise<void> | undefined;
  return {
    async run(command) {
      try {
        return await command(engine);
      } catch (error) {
        throw explainEngineError(error, bound.errorRegistry);
      }
    },
    close() {
      closing ??= (async () => {
        try {
          engine.free();
        } finally {
          openSessions--;
          clearEngineTimersIfIdle();
          await factory.cleanup();
        }
      })();
      return closing;
    },
  };
}
