import Database from "better-sqlite3";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchRollback, type BatchStep, type SqlClient, type SqlStatement, type SqlValue } from "./sql-client";
import { startCheckpointer } from "./sqlite-checkpointer";

/** ms we keep retrying a write that finds the database locked by another connection. */
const BUSY_RETRY_LIMIT_MS = 15_000;
/** ms between background WAL checkpoints. */
const CHECKPOINT_INTERVAL_MS = 500;

/** Prisma's SQLite adapter stores DateTime as ISO 8601 with an explicit +00:00 offset; match it. */
function bind(value: SqlValue): string | number | bigint | null {
  if (value instanceof Date) return value.toISOString().replace("Z", "+00:00");
  return value;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

/**
 * A second better-sqlite3 connection to Prisma's database file. better-sqlite3 is
 * synchronous, so this connection must never wait for a lock: Prisma's connection may hold
 * the write lock across an `await` (an interactive transaction), and a synchronous wait in
 * this same thread would keep it from ever being released. busy_timeout is therefore 0, a
 * locked write is retried asynchronously, and every transaction here runs synchronously
 * from BEGIN to COMMIT, so this connection never holds a lock across an `await` either.
 */
export function openSqliteSqlClient(file: string, options: { onBackgroundError?: (message: string) => void } = {}): SqlClient {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 0");
  // Statement journals and sort b-trees in memory, not in TMPDIR: a full /tmp (often a small
  // tmpfs) must not fail the job store with SQLITE_FULL while the database's own disk has room.
  // They are small here: transactions are a job's rows, and reads are bounded.
  db.pragma("temp_store = MEMORY");
  // Checkpoints run on a thread of their own (see sqlite-checkpointer.ts), never inside a commit here.
  db.pragma("wal_autocheckpoint = 0");
  const checkpointer = startCheckpointer(file, { intervalMs: CHECKPOINT_INTERVAL_MS, onError: options.onBackgroundError ?? (() => undefined) });
  const cache = new Map<string, Database.Statement>();
  const prepare = (text: string): Database.Statement => {
    let statement = cache.get(text);
    if (!statement) {
      statement = db.prepare(text);
      cache.set(text, statement);
    }
    return statement;
  };

  const withBusyRetry = async <T>(work: () => T): Promise<T> => {
    const deadline = Date.now() + BUSY_RETRY_LIMIT_MS;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return work();
      } catch (error) {
        if (!isBusy(error) || Date.now() > deadline) throw error;
        await sleep(delay);
      }
    }
  };

  const stats = { statements: 0, transactions: 0 };
  const runBatch = db.transaction((steps: readonly BatchStep[]) =>
    steps.map((step) => {
      const statement = prepare(step.sql);
      stats.statements++;
      // A statement that returns rows (SELECT, RETURNING) must be read with all().
      if (statement.reader) {
        const rows = statement.all(...step.params.map(bind)) as Record<string, unknown>[];
        if (step.expectChanges !== undefined && rows.length !== step.expectChanges) throw new BatchRollback();
        return rows;
      }
      const { changes } = statement.run(...step.params.map(bind));
      if (step.expectChanges !== undefined && changes !== step.expectChanges) throw new BatchRollback();
      return [];
    }),
  );
  /**
   * Group commit. Transactions asked for in the same turn of the event loop run together
   * in one SQLite transaction, each in a savepoint of its own (so one that fails its
   * expectation, or errs, rolls back alone): the jobs of a busy second share the pages they
   * write, and every page goes to the log once per group instead of once per transaction.
   * Each caller still hears of its own outcome only after the group has committed.
   */
  type Pending = { steps: readonly BatchStep[]; resolve: (rows: Record<string, unknown>[][] | null) => void; reject: (error: unknown) => void };
  let queue: Pending[] = [];
  let flushScheduled = false;
  const runGroup = db.transaction((group: readonly Pending[]) =>
    group.map((pending): { rows: Record<string, unknown>[][] | null } | { error: unknown } => {
      try {
        // Nested: better-sqlite3 runs it as a savepoint inside the group's transaction.
        return { rows: runBatch(pending.steps) };
      } catch (error) {
        return error instanceof BatchRollback ? { rows: null } : { error };
      }
    }),
  );
  const flush = async () => {
    flushScheduled = false;
    const group = queue;
    queue = [];
    try {
      // IMMEDIATE takes the write lock up front, so a busy database fails fast (and is retried).
      const outcomes = await withBusyRetry(() => runGroup.immediate(group));
      stats.transactions += group.length;
      outcomes.forEach((outcome, index) => ("error" in outcome ? group[index]!.reject(outcome.error) : group[index]!.resolve(outcome.rows)));
    } catch (error) {
      for (const pending of group) pending.reject(error);
    }
  };
  const transact = (steps: readonly BatchStep[]) =>
    new Promise<Record<string, unknown>[][] | null>((resolve, reject) => {
      queue.push({ steps, resolve, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(() => void flush());
      }
    });

  let closed = false;
  return {
    dialect: "sqlite",
    all: <T extends Record<string, unknown>>(statement: SqlStatement) =>
      withBusyRetry(() => {
        stats.statements++;
        return prepare(statement.sql).all(...statement.params.map(bind)) as T[];
      }),
    run: (statement) =>
      withBusyRetry(() => {
        stats.statements++;
        return prepare(statement.sql).run(...statement.params.map(bind)).changes;
      }),
    batch: async (steps) => (await transact(steps)) !== null,
    transact,
    stats: () => ({ ...stats }),
    async close() {
      if (closed) return;
      closed = true;
      db.close();
      await checkpointer.close();
    },
  };
}
