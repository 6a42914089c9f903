import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import { type DatabaseProvider, openDatabase } from "../../src/server/db/client";
import { migrateDatabase } from "../../src/server/db/migrate";
import { providerMigrationsDir, readMigrationsList } from "../../src/server/db/migrations-dir";
import { createTestDatabase, TEST_PROVIDERS } from "../helpers/test-database";

const MIGRATIONS_ROOT = path.join(process.cwd(), "prisma/migrations");
const CHILD_SCRIPT = path.join(process.cwd(), "tests/helpers/migrate-child.ts");

async function committedMigrationNames(provider: DatabaseProvider): Promise<string[]> {
  const list = await readMigrationsList(providerMigrationsDir(MIGRATIONS_ROOT, provider), provider);
  return list.migrationDirectories.map((dir) => dir.path);
}

type MigrationRow = { migration_name: string; finished_at: unknown; rolled_back_at: unknown };

/** Reads `_prisma_migrations` with the plain driver, independent of the code under test. */
async function recordedMigrations(provider: DatabaseProvider, url: string): Promise<MigrationRow[]> {
  const sql = "SELECT migration_name, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name";
  if (provider === "sqlite") {
    const db = new Database(url.replace(/^file:/, ""), { readonly: true });
    try {
      return db.prepare(sql).all() as MigrationRow[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<MigrationRow>(sql)).rows;
  } finally {
    await client.end();
  }
}

type ChildResult = { code: number | null; stdout: string; stderr: string };

function appliedByChild(result: ChildResult): string[] {
  assert.equal(result.code, 0, `child failed:\n${result.stderr}`);
  return (JSON.parse(result.stdout.trim()) as { applied: string[] }).applied;
}

function runChild(url: string, signal?: string): Promise<ChildResult> & { ready: Promise<void> } {
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const done = new Promise<ChildResult>((resolve, reject) => {
    const args = ["--import", "tsx", CHILD_SCRIPT, url, ...(signal ? [signal] : [])];
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/^ready$/m.test(stderr)) onReady();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      onReady();
      resolve({ code, stdout, stderr });
    });
  });
  return Object.assign(done, { ready });
}

for (const provider of TEST_PROVIDERS) {
  describe(`migrateDatabase (${provider})`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it("applies the committed migrations once, then nothing", async () => {
      const db = await createTestDatabase(provider);
      cleanups.push(db.drop);
      const expected = await committedMigrationNames(provider);
      assert.ok(expected.length > 0, "there are committed migrations to apply");

      const first = await migrateDatabase(db.url);
      assert.deepEqual(first.applied, expected);

      const second = await migrateDatabase(db.url);
      assert.deepEqual(second.applied, []);

      const rows = await recordedMigrations(provider, db.url);
      assert.deepEqual(rows.map((row) => row.migration_name), expected);
      assert.ok(rows.every((row) => row.finished_at !== null && row.rolled_back_at === null));
    });

    it("serves a Job row through openDatabase after migrating", async () => {
      const db = await createTestDatabase(provider);
      cleanups.push(db.drop);
      await migrateDatabase(db.url);

      const database = await openDatabase(db.url);
      try {
        assert.equal(database.provider, provider);
        await database.prisma.job.create({
          data: { id: "job_1", type: "transcribe", status: "QUEUED", params: JSON.stringify({ lang: "en" }) },
        });
        const job = await database.prisma.job.findUniqueOrThrow({ where: { id: "job_1" } });
        assert.equal(job.status, "QUEUED");
        assert.equal(job.origin, "trpc");
        assert.equal(job.attempts, 0);
        assert.ok(job.createdAt instanceof Date);

        if (provider === "sqlite") {
          const pragma = async (name: string): Promise<unknown> => {
            const rows = await database.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(`PRAGMA ${name}`);
            return Object.values(rows[0] ?? {})[0];
          };
          assert.equal(await pragma("journal_mode"), "wal");
          assert.equal(Number(await pragma("synchronous")), 1, "synchronous=NORMAL");
          assert.equal(Number(await pragma("foreign_keys")), 1);
          assert.equal(Number(await pragma("busy_timeout")), 5000);
        }
      } finally {
        await database.close();
        await database.close();
      }
    });

    it("lets two processes migrate the same fresh database at once", async () => {
      const db = await createTestDatabase(provider);
      cleanups.push(db.drop);
      const dir = await mkdtemp(path.join(os.tmpdir(), "migrate-race-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const signal = path.join(dir, "go");

      const children = [runChild(db.url, signal), runChild(db.url, signal)];
      // Both loaded and waiting: release them together.
      await Promise.all(children.map((child) => child.ready));
      await writeFile(signal, "");
      const results = await Promise.all(children);

      const applied = results.map(appliedByChild);
      const expected = await committedMigrationNames(provider);
      // Exactly one child applied everything; the other found nothing left to do.
      assert.deepEqual(applied.flat().sort(), [...expected].sort());
      assert.ok(applied.some((names) => names.length === 0));

      const rows = await recordedMigrations(provider, db.url);
      assert.deepEqual(rows.map((row) => row.migration_name), expected);
    });
    it("migrates from another process while this one has the database open, idle and writing", async () => {
      const db = await createTestDatabase(provider);
      cleanups.push(db.drop);
      await migrateDatabase(db.url);

      const database = await openDatabase(db.url);
      try {
        // Connected and idle, as a server between requests. On SQLite (WAL) the client now holds
        // a shared lock on the database file for as long as it stays open.
        await database.prisma.job.count();
        assert.deepEqual(appliedByChild(await runChild(db.url)), []);

        // Writing all the time, as a server taking jobs.
        let writes = 0;
        let stop = false;
        const writer = (async () => {
          while (!stop) {
            const id = `job_${writes}`;
            await database.prisma.job.create({ data: { id, type: "transcribe", status: "QUEUED", params: "{}" } });
            await database.prisma.$transaction(async (tx) => {
              await tx.job.update({ where: { id }, data: { status: "RUNNING", attempts: { increment: 1 } } });
            });
            writes++;
            // better-sqlite3 is synchronous: without a turn of the event loop this loop would
            // run on microtasks alone and starve the child's I/O (a server yields between requests).
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        let during: number;
        let result: ChildResult;
        try {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const before = writes;
          result = await runChild(db.url);
          during = writes - before;
        } finally {
          stop = true;
          await writer; // rethrows a failed write: the migrator must not have locked the server out
        }
        assert.deepEqual(appliedByChild(result), []);
        assert.ok(during > 0, "the server kept writing while the child migrated");
        assert.equal(await database.prisma.job.count({ where: { status: "RUNNING" } }), writes);
      } finally {
        await database.close();
      }

      const rows = await recordedMigrations(provider, db.url);
      assert.deepEqual(rows.map((row) => row.migration_name), await committedMigrationNames(provider));
    });

    if (provider === "sqlite") {
      it("reports a locked database with the driver's message", async () => {
        const db = await createTestDatabase(provider);
        cleanups.push(db.drop);
        await migrateDatabase(db.url);
        // Rollback-journal mode, where an exclusive transaction keeps readers out too.
        const holder = new Database(db.url.replace(/^file:/, ""));
        try {
          holder.pragma("journal_mode = DELETE");
          holder.exec("BEGIN EXCLUSIVE");
          await assert.rejects(migrateDatabase(db.url), (error: Error) => {
            assert.match(error.message, /SQLITE_BUSY: database is locked/);
            assert.doesNotMatch(error.message, /unknown variant/);
            return true;
          });
        } finally {
          holder.close();
        }
      });
    }
  });
}
