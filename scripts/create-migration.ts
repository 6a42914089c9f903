// Creates the next migration for every provider: `npx tsx scripts/create-migration.ts <name>`.
//
// For each provider the wasm schema engine diffs the migrations already committed under
// prisma/migrations/<provider>/ (replayed on a throwaway shadow database) against the schema
// rendered for that provider, and the resulting SQL becomes
// prisma/migrations/<provider>/<timestamp>_<name>/migration.sql. Nothing is applied anywhere.
//
// Options: --provider sqlite|postgresql (repeatable; default both).
// Env: MIGRATION_POSTGRES_URL, the server used for PostgreSQL scratch databases
// (default postgresql://postgres@127.0.0.1:5432/postgres).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type DatabaseProvider, withPostgresDatabase } from "../src/server/db/database-url";
import { createEngineAdapterFactory } from "../src/server/db/engine-adapters";
import {
  MIGRATION_LOCK_FILE,
  MIGRATION_SCRIPT_FILE,
  migrationLockContent,
  providerMigrationsDir,
  readMigrationsList,
} from "../src/server/db/migrations-dir";
import { NO_FILTER, openSchemaEngine } from "../src/server/db/schema-engine";

const root = process.cwd();
const migrationsRoot = path.join(root, "prisma/migrations");
/** Where scripts/prisma-generate.mjs leaves each provider's rendering of prisma/schema.prisma. */
const RENDERED_SCHEMA: Record<DatabaseProvider, string> = {
  sqlite: path.join(root, "prisma/.rendered/sqlite/schema.prisma"),
  postgresql: path.join(root, "prisma/.rendered/postgres/schema.prisma"),
};
const ALL_PROVIDERS: DatabaseProvider[] = ["sqlite", "postgresql"];

type ScratchDatabase = { url: string; shadowUrl?: string; drop(): Promise<void> };

async function sqliteScratch(): Promise<ScratchDatabase> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "create-migration-"));
  return {
    url: `file:${path.join(dir, "scratch.db")}`,
    shadowUrl: `file:${path.join(dir, "shadow.db")}`,
    drop: () => rm(dir, { recursive: true, force: true }),
  };
}

async function postgresScratch(): Promise<ScratchDatabase> {
  const adminUrl = process.env.MIGRATION_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  const name = `migration_scratch_${randomUUID().replace(/-/g, "")}`;
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  return {
    url: withPostgresDatabase(adminUrl, name),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** Prisma's `YYYYMMDDHHMMSS` (UTC) prefix, bumped past the newest existing migration if needed. */
async function nextTimestamp(providers: DatabaseProvider[]): Promise<string> {
  let latest = "0";
  for (const provider of providers) {
    const dir = providerMigrationsDir(migrationsRoot, provider);
    const names = existsSync(dir) ? await readdir(dir) : [];
    for (const name of names) {
      const stamp = /^(\d{14})_/.exec(name)?.[1];
      if (stamp && stamp > latest) latest = stamp;
    }
  }
  const now = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
  return now > latest ? now : String(BigInt(latest) + 1n);
}

/** The SQL that takes the committed migrations to the current schema, or null when in sync. */
async function diffProvider(provider: DatabaseProvider): Promise<string | null> {
  const schema = await readFile(RENDERED_SCHEMA[provider], "utf8");
  const dir = providerMigrationsDir(migrationsRoot, provider);
  const migrationsList = await readMigrationsList(dir, provider);
  const scratch = provider === "sqlite" ? await sqliteScratch() : await postgresScratch();
  try {
    const factory = createEngineAdapterFactory(scratch.url, { shadowUrl: scratch.shadowUrl });
    const session = await openSchemaEngine(factory, { log: (line) => console.error(line) });
    try {
      const result = await session.run((engine) =>
        engine.diff({
          from: { tag: "migrations", ...migrationsList },
          to: { tag: "schemaDatamodel", files: [{ path: "schema.prisma", content: schema }] },
          script: true,
          // Exit code 2 means "non-empty diff": the engine's own way to say there is work.
          exitCode: true,
          filters: NO_FILTER,
        }),
      );
      return result.exitCode === 2 && result.stdout ? result.stdout : null;
    } finally {
      await session.close();
    }
  } finally {
    await scratch.drop();
  }
}

function parseArgs(argv: string[]): { name: string; providers: DatabaseProvider[] } {
  const providers: DatabaseProvider[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--provider") {
      const value = argv[++i];
      if (value !== "sqlite" && value !== "postgresql") throw new Error(`--provider must be sqlite or postgresql`);
      providers.push(value);
    } else {
      rest.push(arg);
    }
  }
  // Same shape Prisma gives migration folder names: lower snake case.
  const name = rest.join("_").toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  if (!name) throw new Error("usage: tsx scripts/create-migration.ts <name> [--provider sqlite|postgresql]");
  return { name, providers: providers.length > 0 ? providers : ALL_PROVIDERS };
}

async function main(): Promise<void> {
  const { name, providers } = parseArgs(process.argv.slice(2));
  // Re-render (and regenerate the clients) so the diff sees the schema as it is now.
  execFileSync(process.execPath, [path.join(root, "scripts/prisma-generate.mjs")], { stdio: "inherit" });

  const timestamp = await nextTimestamp(ALL_PROVIDERS);
  for (const provider of providers) {
    const sql = await diffProvider(provider);
    if (sql === null) {
      console.log(`${provider}: schema matches the migrations, nothing to create`);
      continue;
    }
    const dir = providerMigrationsDir(migrationsRoot, provider);
    const target = path.join(dir, `${timestamp}_${name}`);
    await mkdir(target, { recursive: true });
    await writeFile(path.join(target, MIGRATION_SCRIPT_FILE), sql);
    const lockFile = path.join(dir, MIGRATION_LOCK_FILE);
    if (!existsSync(lockFile)) await writeFile(lockFile, migrationLockContent(provider));
    console.log(`${provider}: wrote ${path.relative(root, path.join(target, MIGRATION_SCRIPT_FILE))}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
