import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import type { SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaClient as PostgresPrismaClient } from "../../generated/prisma/postgres/client";
import { PrismaClient, type Prisma } from "../../generated/prisma/sqlite/client";
import { type DatabaseProvider, providerFromUrl, sqlitePathFromUrl } from "./database-url";

export { type DatabaseProvider, providerFromUrl, resolveDatabaseUrl } from "./database-url";

/**
 * The Prisma client type the application codes against. It is the SQLite client's type; the
 * PostgreSQL client is generated from the same models and exposes the same model API.
 */
export type Db = PrismaClient;

/** The client handed to interactive `$transaction` callbacks. */
export type DbTransaction = Prisma.TransactionClient;

/** An open database: the client, what it talks to, and how to let go of it. */
export type Database = {
  prisma: Db;
  provider: DatabaseProvider;
  url: string;
  /** Disconnects the client; safe to call more than once. */
  close(): Promise<void>;
};

/** How long a connection waits on another writer's lock before failing with SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;

// WAL lets readers run alongside the single writer; NORMAL sync is durable across application
// crashes in WAL mode (only an OS crash can drop the last commits). better-sqlite3 already
// defaults foreign_keys to ON, but the schema relies on cascades, so it is stated explicitly.
const SQLITE_PRAGMAS = [
  `PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`,
  "PRAGMA journal_mode = WAL",
  "PRAGMA synchronous = NORMAL",
  "PRAGMA foreign_keys = ON",
  // Temporary files in memory, not in TMPDIR (see sqlite-sql-client.ts): a full /tmp must not fail the database.
  "PRAGMA temp_store = MEMORY",
].join(";\n");

/**
 * The adapter has no hook for per-connection setup, so the factory is wrapped to run the pragmas
 * on every connection it hands to Prisma (Prisma may reconnect after a disconnect).
 */
function withSqlitePragmas(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    async connect() {
      const adapter = await factory.connect();
      try {
        await adapter.executeScript(SQLITE_PRAGMAS);
      } catch (error) {
        await adapter.dispose();
        throw error;
      }
      return adapter;
    },
  };
}

async function openSqlite(url: string): Promise<Db> {
  const file = sqlitePathFromUrl(url);
  await mkdir(path.dirname(file), { recursive: true });
  const factory = new PrismaBetterSqlite3({ url: file, timeout: SQLITE_BUSY_TIMEOUT_MS });
  return new PrismaClient({ adapter: withSqlitePragmas(factory) });
}

function openPostgres(url: string): Db {
  const client = new PostgresPrismaClient({ adapter: new PrismaPg({ connectionString: url }) });
  // Both clients come from one model text (scripts/prisma-generate.mjs changes only the provider
  // and output), so their model APIs are identical; TypeScript just sees two distinct
  // generated declarations, hence the cast through unknown.
  return client as unknown as Db;
}

/**
 * Opens the database named by `url` (see {@link providerFromUrl}) without connecting yet;
 * Prisma connects on the first query. For SQLite the parent directory is created and the
 * connection runs with WAL, synchronous=NORMAL, busy_timeout=5000 and foreign_keys=ON.
 * Does not migrate: run `migrateDatabase` first.
 */
export async function openDatabase(url: string): Promise<Database> {
  const provider = providerFromUrl(url);
  const prisma = provider === "sqlite" ? await openSqlite(url) : openPostgres(url);
  let closing: Promise<void> | undefined;
  return {
    prisma,
    provider,
    url,
    close() {
      closing ??= prisma.$disconnect();
      return closing;
    },
  };
}
