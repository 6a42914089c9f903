import type { DatabaseProvider } from "../database-url";

/** A value bound to a `?` placeholder. Dates are stored the way Prisma stores them. */
export type SqlValue = string | number | bigint | null | Date;

export type SqlStatement = { sql: string; params: readonly SqlValue[] };

/**
 * A statement in an atomic batch; the batch rolls back when `expectChanges` does not hold
 * (rows changed, or for a statement with RETURNING, rows returned).
 */
export type BatchStep = SqlStatement & { expectChanges?: number };

/** Statements and transactions this client has run since it opened (the benchmark's queries per job). */
export type SqlStats = { statements: number; transactions: number };

/**
 * Prepared-statement access to the same database Prisma uses, for the job system's hot
 * path (accept, claim, heartbeat, complete, status reads). Prisma 7 spends about 300 µs of
 * CPU per query; a cached prepared statement costs 10–40 µs, which is what lets one
 * control-plane process push hundreds of jobs a second. Everything else stays on Prisma.
 *
 * SQL is written once with `?` placeholders and double-quoted Prisma table/column names,
 * which both SQLite and PostgreSQL accept.
 */
export type SqlClient = {
  readonly dialect: DatabaseProvider;
  /** Rows of a SELECT or of an UPDATE/INSERT … RETURNING. */
  all<T extends Record<string, unknown>>(statement: SqlStatement): Promise<T[]>;
  /** Rows changed. */
  run(statement: SqlStatement): Promise<number>;
  /**
   * Runs the steps in one transaction. Returns false (after rolling back) as soon as a
   * step changes a different number of rows than it expects.
   */
  batch(steps: readonly BatchStep[]): Promise<boolean>;
  /**
   * `batch` that also returns each step's rows (SELECT, or RETURNING; empty for the rest),
   * or null after rolling back on a failed expectation. The steps are fixed in advance, so
   * a transaction never waits on this process between them (see the SQLite client).
   */
  transact(steps: readonly BatchStep[]): Promise<Record<string, unknown>[][] | null>;
  stats(): SqlStats;
  /** Safe to call twice. */
  close(): Promise<void>;
};

export function sql(text: string, ...params: SqlValue[]): SqlStatement {
  return { sql: text, params };
}

/** Thrown inside a transaction to roll it back when a guarded step fails its expectation. */
export class BatchRollback extends Error {
  constructor() {
    super("batch expectation not met");
    this.name = "BatchRollback";
  }
}
