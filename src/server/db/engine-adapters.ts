import { randomUUID } from "node:crypto";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  isDriverAdapterError,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
  type Transaction,
} from "@prisma/driver-adapter-utils";
import pg from "pg";
import { providerFromUrl, sqlitePathFromUrl, withPostgresDatabase } from "./database-url";

/**
 * A driver-adapter factory for the wasm schema engine, patched for the engine's needs, that
 * remembers every connection and scratch database it made so {@link cleanup} can release them:
 * the engine does not reliably dispose what it opened.
 */
export type EngineAdapterFactory = SqlMigrationAwareDriverAdapterFactory & {
  /** Closes every connection and drops every shadow database this factory created. Idempotent. */
  cleanup(): Promise<void>;
};

type AdapterPatch = Partial<Pick<SqlDriverAdapter, "queryRaw" | "executeRaw" | "dispose">>;

/**
 * The driver error kinds the wasm schema engine (7.10) can deserialize. The adapters report a
 * few more (`SocketTimeout`, which adapter-better-sqlite3 uses for SQLITE_BUSY, `InvalidInputValue`,
 * `InconsistentColumnData`, `RestrictViolation`); the engine answers those with an opaque
 * "unknown variant `SocketTimeout`" that hides the driver's message.
 */
const ENGINE_ERROR_KINDS: ReadonlySet<string> = new Set([
  "GenericJs",
  "UnsupportedNativeDataType",
  "InvalidIsolationLevel",
  "LengthMismatch",
  "UniqueConstraintViolation",
  "NullConstraintViolation",
  "ForeignKeyConstraintViolation",
  "DatabaseNotReachable",
  "DatabaseDoesNotExist",
  "DatabaseAlreadyExists",
  "DatabaseAccessDenied",
  "ConnectionClosed",
  "TlsConnectionError",
  "AuthenticationFailed",
  "TransactionWriteConflict",
  "TableDoesNotExist",
  "ColumnNotFound",
  "TooManyConnections",
  "ValueOutOfRange",
  "MissingFullTextSearchIndex",
  "TransactionAlreadyClosed",
  "postgres",
  "mysql",
  "sqlite",
  "mssql",
]);

type DriverErrorPayload = { kind: string; originalCode?: string; originalMessage?: string; message?: string };

/**
 * Rethrows a driver error whose kind the engine does not know as a plain `Error` carrying the
 * driver's code and message. driver-adapter-utils hands plain errors to the engine as
 * `GenericJs` with an id into its error registry, and schema-engine.ts appends the registered
 * error's message to the engine's, so the cause stays readable ("SQLITE_BUSY: database is locked").
 */
function toEngineError(error: unknown): unknown {
  if (!isDriverAdapterError(error)) return error;
  const payload = error.cause as DriverErrorPayload;
  if (ENGINE_ERROR_KINDS.has(payload.kind)) return error;
  const code = payload.originalCode ?? payload.kind;
  const message = payload.originalMessage ?? payload.message ?? error.message;
  return Object.assign(new Error(`${code}: ${message} (driver error ${payload.kind})`, { cause: error }), {
    code,
  });
}

function engineSafe<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fn(...args);
    } catch (error) {
      throw toEngineError(error);
    }
  };
}

function wrapTransaction(inner: Transaction): Transaction {
  const tx: Transaction = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    options: inner.options,
    queryRaw: engineSafe((query) => inner.queryRaw(query)),
    executeRaw: engineSafe((query) => inner.executeRaw(query)),
    commit: engineSafe(() => inner.commit()),
    rollback: engineSafe(() => inner.rollback()),
  };
  if (inner.createSavepoint) tx.createSavepoint = engineSafe((name) => inner.createSavepoint!(name));
  if (inner.rollbackToSavepoint) tx.rollbackToSavepoint = engineSafe((name) => inner.rollbackToSavepoint!(name));
  if (inner.releaseSavepoint) tx.releaseSavepoint = engineSafe((name) => inner.releaseSavepoint!(name));
  return tx;
}

/**
 * Delegates to `inner` (a class instance with private state, so no spreading) with overrides,
 * translating driver errors the engine cannot deserialize (see {@link toEngineError}).
 */
function delegate(inner: SqlDriverAdapter, patch: AdapterPatch): SqlDriverAdapter {
  const adapter: SqlDriverAdapter = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    queryRaw: engineSafe(patch.queryRaw ?? ((query) => inner.queryRaw(query))),
    executeRaw: engineSafe(patch.executeRaw ?? ((query) => inner.executeRaw(query))),
    executeScript: engineSafe((script) => inner.executeScript(script)),
    startTransaction: engineSafe(async (isolationLevel) => wrapTransaction(await inner.startTransaction(isolationLevel))),
    dispose: engineSafe(patch.dispose ?? (() => inner.dispose())),
  };
  // Only present when the driver has it: driver-adapter-utils checks for the property itself.
  if (inner.getConnectionInfo) adapter.getConnectionInfo = () => inner.getConnectionInfo!();
  return adapter;
}

/** Tracks adapters so cleanup can dispose whatever the engine left open, each exactly once. */
class AdapterTracker {
  readonly #open = new Set<() => Promise<void>>();

  track(inner: SqlDriverAdapter, patch: AdapterPatch = {}, afterDispose?: () => Promise<void>): SqlDriverAdapter {
    let disposing: Promise<void> | undefined;
    const disposeOnce = (): Promise<void> => {
      disposing ??= (async () => {
        this.#open.delete(disposeOnce);
        await (patch.dispose ?? (() => inner.dispose()))();
        await afterDispose?.();
      })();
      return disposing;
    };
    this.#open.add(disposeOnce);
    return delegate(inner, { ...patch, dispose: disposeOnce });
  }

  async disposeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const dispose of [...this.#open]) {
      await dispose().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) throw new AggregateError(errors, "Failed to close schema engine connections");
  }
}

function isMultiStatementError(error: unknown): boolean {
  return error instanceof RangeError && /more than one statement/i.test(error.message);
}

/**
 * The engine's SQLite "advisory lock": it switches its connection to exclusive locking mode before
 * its first query. On a WAL database, a connection in exclusive mode needs an EXCLUSIVE lock on
 * the database file even to read, while every other connection that has read the database holds
 * a SHARED lock on it for as long as it stays open. So with the server running (its Prisma client
 * connected and idle), the engine's first query waits out the busy timeout and fails with
 * SQLITE_BUSY; and while it did hold the lock, the server would be locked out of its database.
 */
function isExclusiveLockingPragma(sql: string): boolean {
  return /^\s*PRAGMA\s+(?:main\.)?locking_mode\s*=\s*'?EXCLUSIVE'?\s*;?\s*$/i.test(sql);
}

const EMPTY_RESULT: SqlResultSet = { columnNames: [], columnTypes: [], rows: [] };

/**
 * SQLite factory.
 *
 * - The engine's `PRAGMA main.locking_mode=EXCLUSIVE` is skipped (see
 *   {@link isExclusiveLockingPragma}): migrators already take turns under migration-lock.ts,
 *   and in NORMAL mode the engine reads alongside other processes (WAL) and waits for the write
 *   lock (busy timeout) like any other writer, so it migrates a database that is in use.
 * - better-sqlite3 prepares one statement at a time, but the engine sends whole migration scripts
 *   through `executeRaw` when replaying migrations on the shadow database, so parameterless
 *   multi-statement SQL is rerouted to `executeScript` (`Database#exec`).
 */
function sqliteFactory(url: string, shadowUrl: string | undefined): EngineAdapterFactory {
  const file = sqlitePathFromUrl(url);
  const shadowFile = shadowUrl ? sqlitePathFromUrl(shadowUrl) : ":memory:";
  const tracker = new AdapterTracker();

  const wrap = (inner: SqlDriverAdapter): SqlDriverAdapter =>
    tracker.track(inner, {
      async queryRaw(query: SqlQuery) {
        if (isExclusiveLockingPragma(query.sql)) return EMPTY_RESULT;
        return inner.queryRaw(query);
      },
      async executeRaw(query: SqlQuery) {
        if (isExclusiveLockingPragma(query.sql)) return 0;
        try {
          return await inner.executeRaw(query);
        } catch (error) {
          if (query.args.length > 0 || !isMultiStatementError(error)) throw error;
          await inner.executeScript(query.sql);
          return 0;
        }
      },
    });

  const base = new PrismaBetterSqlite3({ url: file, timeout: 5000 }, { shadowDatabaseUrl: shadowFile });
  return {
    provider: base.provider,
    adapterName: base.adapterName,
    connect: async () => wrap(await base.connect()),
    connectToShadowDb: async () => wrap(await base.connectToShadowDb()),
    cleanup: () => tracker.disposeAll(),
  };
}

/** OIDs the engine's catalog queries return that adapter-pg 7.10 cannot map. */
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

type QueryFn = (...args: unknown[]) => unknown;
type FieldsCarrier = { fields?: Array<{ dataTypeID: number }> };

function retypeCharFields(result: unknown): unknown {
  for (const part of Array.isArray(result) ? result : [result]) {
    for (const field of (part as FieldsCarrier | null)?.fields ?? []) {
      // pg already returns "char" values as strings; only the type id trips the adapter.
      if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    }
  }
  return result;
}

/**
 * adapter-pg 7.10 throws "Unsupported column type char" on the `"char"` type (OID 18) that the
 * engine's catalog queries select (e.g. pg_class.relkind), so every pooled client's `query` is
 * wrapped to report those columns as text. Pool#query calls the client with a callback and
 * transactions use promises, so both forms are patched.
 */
function createCharSafePool(connectionString: string): pg.Pool {
  const pool = new pg.Pool({ connectionString, max: 2 });
  pool.on("connect", (client) => {
    const original = client.query.bind(client) as QueryFn;
    const patched: QueryFn = (...args) => {
      const last = args.at(-1);
      if (typeof last === "function") {
        const callback = last as (error: unknown, result: unknown) => void;
        args[args.length - 1] = (error: unknown, result: unknown) =>
          callback(error, error ? result : retypeCharFields(result));
        return original(...args);
      }
      const result = original(...args);
      return result instanceof Promise ? result.then(retypeCharFields) : result;
    };
    (client as unknown as { query: QueryFn }).query = patched;
  });
  return pool;
}

/**
 * adapter-pg is typed against its own nested @types/pg (8.23) while the project pins 8.15, so the
 * two `Pool` declarations differ nominally though they are the same runtime class.
 */
function adapterFor(pool: pg.Pool): PrismaPg {
  return new PrismaPg(pool as unknown as ConstructorParameters<typeof PrismaPg>[0]);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * PostgreSQL factory. adapter-pg's own `connectToShadowDb` spreads `{ database }` over a config
 * whose connection string still names the main database (the string wins in pg), and does not
 * always drop what it created; this one creates `prisma_shadow_<uuid>` itself, connects by a
 * rewritten URL, and drops it (WITH (FORCE)) on dispose or, at the latest, in cleanup.
 */
function postgresFactory(url: string): EngineAdapterFactory {
  const tracker = new AdapterTracker();
  const mainPool = createCharSafePool(url);
  const shadowDatabases = new Set<string>();
  const base = adapterFor(mainPool);

  const dropShadow = async (name: string): Promise<void> => {
    await mainPool.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
    shadowDatabases.delete(name);
  };

  let cleaning: Promise<void> | undefined;
  const cleanup = async (): Promise<void> => {
    try {
      await tracker.disposeAll();
      for (const name of [...shadowDatabases]) await dropShadow(name);
    } finally {
      await mainPool.end();
    }
  };

  return {
    provider: base.provider,
    adapterName: base.adapterName,
    connect: async () => tracker.track(await base.connect()),
    async connectToShadowDb() {
      const name = `prisma_shadow_${randomUUID().replace(/-/g, "")}`;
      await mainPool.query(`CREATE DATABASE ${quoteIdent(name)}`);
      shadowDatabases.add(name);
      const shadowPool = createCharSafePool(withPostgresDatabase(url, name));
      const inner = await adapterFor(shadowPool)
        .connect()
        .catch(async (error: unknown) => {
          await shadowPool.end();
          throw error; // the database itself is dropped by cleanup
        });
      return tracker.track(inner, {}, async () => {
        await shadowPool.end();
        await dropShadow(name);
      });
    },
    cleanup: () => (cleaning ??= cleanup()),
  };
}

/**
 * The engine adapter factory for `url`'s provider. For SQLite, `shadowUrl` names a file for the
 * shadow database (default: in memory); PostgreSQL creates throwaway shadow databases itself.
 */
export function createEngineAdapterFactory(url: string, opts: { shadowUrl?: string } = {}): EngineAdapterFactory {
  return providerFromUrl(url) === "sqlite" ? sqliteFactory(url, opts.shadowUrl) : postgresFactory(url);
}
