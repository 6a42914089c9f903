import pg from "pg";
import { BatchRollback, type BatchStep, type SqlClient, type SqlStatement, type SqlValue } from "./sql-client";

const TIMESTAMP_OID = 1114;
const INT8_OID = 20;

/** `?` → `$1, $2, …` (our SQL never contains a literal question mark). */
function toPositional(text: string): string {
  let index = 0;
  return text.replace(/\?/g, () => `$${++index}`);
}

/**
 * Prisma's columns are `timestamp(3)` without a time zone holding UTC. Dates go in as UTC
 * ISO strings (the zone suffix is ignored for that type) and come back as strings that the
 * row mappers read as UTC, whatever the server's or this process's time zone.
 */
function bind(value: SqlValue): string | number | null {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  return value;
}

export function openPostgresSqlClient(url: string): SqlClient {
  const pool = new pg.Pool({
    connectionString: url,
    max: 8,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") => {
        if (oid === TIMESTAMP_OID || oid === INT8_OID) return (value: string) => value;
        return pg.types.getTypeParser(oid, format);
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  const stats = { statements: 0, transactions: 0 };
  const query = (statement: SqlStatement, client: pg.Pool | pg.PoolClient = pool) => {
    stats.statements++;
    return client.query({ text: toPositional(statement.sql), values: statement.params.map(bind) });
  };
  const transact = async (steps: readonly BatchStep[]): Promise<Record<string, unknown>[][] | null> => {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const results: Record<string, unknown>[][] = [];
      for (const step of steps) {
        const result = await query(step, client);
        // rowCount is rows changed for INSERT/UPDATE/DELETE (RETURNING included) and rows read for SELECT.
        if (step.expectChanges !== undefined && (result.rowCount ?? 0) !== step.expectChanges) throw new BatchRollback();
        results.push(result.rows as Record<string, unknown>[]);
      }
      await client.query("COMMIT");
      stats.transactions++;
      return results;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      if (error instanceof BatchRollback) return null;
      throw error;
    } finally {
      client.release();
    }
  };

  let closing: Promise<void> | null = null;
  return {
    dialect: "postgresql",
    all: async <T extends Record<string, unknown>>(statement: SqlStatement) => (await query(statement)).rows as T[],
    run: async (statement) => (await query(statement)).rowCount ?? 0,
    batch: async (steps) => (await transact(steps)) !== null,
    transact,
    stats: () => ({ ...stats }),
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}
