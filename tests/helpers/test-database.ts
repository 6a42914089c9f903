import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { DatabaseProvider } from "../../src/server/db/client";

/** A throwaway database for one test run. */
export type TestDatabase = {
  url: string;
  /** Deletes the database (and, for SQLite, its folder). Safe to call twice. */
  drop(): Promise<void>;
};

/** The server tests create PostgreSQL databases on (trust auth, user postgres). */
const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

/** Providers to run database tests against: both, unless `TEST_DB_PROVIDERS=sqlite` (comma list) narrows it. */
export const TEST_PROVIDERS: DatabaseProvider[] = parseProviders(process.env.TEST_DB_PROVIDERS);

function parseProviders(value: string | undefined): DatabaseProvider[] {
  if (!value?.trim()) return ["sqlite", "postgresql"];
  return value.split(",").map((item) => {
    const provider = item.trim().toLowerCase();
    if (provider === "sqlite") return "sqlite";
    if (provider === "postgresql" || provider === "postgres") return "postgresql";
    throw new Error(`TEST_DB_PROVIDERS: unknown provider "${item}"`);
  });
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

/**
 * Creates an empty database: SQLite, a file in a fresh temp folder; PostgreSQL,
 * `test_<random>` on 127.0.0.1:5432, dropped WITH (FORCE) so open pools cannot block it.
 */
export async function createTestDatabase(provider: DatabaseProvider): Promise<TestDatabase> {
  if (provider === "sqlite") {
    const dir = await mkdtemp(path.join(os.tmpdir(), "test-db-"));
    return {
      url: `file:${path.join(dir, "test.db")}`,
      drop: once(() => rm(dir, { recursive: true, force: true })),
    };
  }
  const name = `test_${randomBytes(8).toString("hex")}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: once(() => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}
