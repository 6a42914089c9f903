import { mkdir } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import pg from "pg";
import { providerFromUrl, sqlitePathFromUrl } from "./database-url";

/** How long a second migrator waits for the first before giving up. */
const LOCK_WAIT_MS = 10 * 60_000;

/**
 * Advisory-lock key for migrations. Arbitrary but fixed; deliberately not Prisma's own
 * 72707369, so nothing else that speaks Prisma can deadlock against us.
 */
const PG_MIGRATION_LOCK_KEY = "7310734523781470211";

type Log = (line: string) => void;

/**
 * PostgreSQL: a session-level advisory lock on a connection of its own. Advisory locks are
 * scoped to the database, and the server releases them when the session ends, so a crashed
 * migrator cannot leave the lock behind.
 */
async function withPostgresLock<T>(url: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, statement_timeout: 0 });
  await client.connect();
  try {
    const tried = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS locked", [
      PG_MIGRATION_LOCK_KEY,
    ]);
    if (!tried.rows[0]?.locked) {
      log("migrate: another process is migrating this database; waiting for its lock");
      await client.query(`SET lock_timeout = ${LOCK_WAIT_MS}`);
      await client.query("SELECT pg_advisory_lock($1::bigint)", [PG_MIGRATION_LOCK_KEY]);
    }
    try {
      return await fn();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1::bigint)", [PG_MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

/**
 * SQLite: `BEGIN EXCLUSIVE` on a separate lock database next to the real one
 * (`<db>.migrate-lock`). Not on the real database: the engine must write to it meanwhile, and an
 * exclusive transaction there would block the engine itself. Not an O_EXCL lock file either:
 * SQLite's locks are OS file locks, which the kernel drops when the holder dies, so there is no
 * stale-lock detection to get wrong (pid reuse, other hosts, races while breaking a stale lock).
 * The lock file is never deleted: unlinking it while another process holds it would let a third
 * process lock a fresh inode alongside the holder.
 */
async function withSqliteLock<T>(url: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const file = sqlitePathFromUrl(url);
  await mkdir(path.dirname(file), { recursive: true });
  // Short busy timeout per attempt so the wait can be logged and bounded here.
  const lockDb = new Database(`${file}.migrate-lock`, { timeout: 1000 });
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    let announced = false;
    for (;;) {
      try {
        lockDb.exec("BEGIN EXCLUSIVE");
        break;
      } catch (error) {
        if (!isBusy(error) || Date.now() > deadline) throw error;
        if (!announced) log("migrate: another process is migrating this database; waiting for its lock");
        announced = true;
        await sleep(50);
      }
    }
    try {
      return await fn();
    } finally {
      lockDb.exec("ROLLBACK");
    }
  } finally {
    lockDb.close();
  }
}

/**
 * Runs `fn` while holding a cross-process lock dedicated to migrating the database at `url`,
 * so concurrent starters migrate one after the other instead of racing on `_prisma_migrations`.
 */
export function withMigrationLock<T>(url: string, log: Log, fn: () => Promise<T>): Promise<T> {
  return providerFromUrl(url) === "sqlite" ? withSqliteLock(url, log, fn) : withPostgresLock(url, log, fn);
}
