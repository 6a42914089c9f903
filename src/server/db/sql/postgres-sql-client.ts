import { createHash } from "node:crypto";
import pg from "pg";
import { BatchRollback, type BatchStep, type SqlClient, type SqlStatement, type SqlValue } from "./sql-client";

const TIMESTAMP_OID = 1114;
const INT8_OID = 20;
/** Distinct statements prepared by name at most (per connection); later ones run unnamed. */
const MAX_NAMED_STATEMENTS = 256;

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

/**
 * A value written into the SQL text, for statements sent together in one round trip (the
 * simple query protocol takes no parameters). Strings go through pg's own escaping; the
 * literals are untyped, so the database coerces them exactly as it does bound parameters.
 */
function literal(value: SqlValue): string {
  const bound = bind(value);
  if (bound === null) return "NULL";
  if (typeof bound === "number") {
    if (!Number.isFinite(bound)) throw new Error(`Cannot write ${bound} into SQL`);
    return String(bound);
  }
  return pg.escapeLiteral(bound);
}

/** The statement with its values written in. */
function inline(statement: SqlStatement): string {
  let index = 0;
  const text = statement.sql.replace(/\?/g, () => literal(statement.params[index++]!));
  if (index !== statement.params.length) throw new Error(`The statement has ${index} placeholders for ${statement.params.length} values`);
  return text;
}

/** What a failed expectation raises inside the database (see `guarded`). */
const EXPECTATION_FAILED = "batch expectation not met";

/**
 * A write with an expectation, as one statement that fails when the expectation does not
 * hold: the rows it changed are counted, and a count other than expected is cast to an
 * integer from the text above, which raises. (The cast is of a value computed at run time,
 * so the planner cannot fold it into an error beforehand.) Null for a statement this cannot
 * wrap (one that already returns rows): it gets a round trip of its own.
 */
function guarded(step: BatchStep): string | null {
  if (step.expectChanges === undefined || !/^\s*(UPDATE|INSERT|DELETE)\b/i.test(step.sql) || /\bRETURNING\b/i.test(step.sql)) return null;
  return `WITH "guarded" AS (${inline(step)} RETURNING 1) SELECT (CASE WHEN COUNT(*) = ${step.expectChanges} THEN '0' ELSE '${EXPECTATION_FAILED}' END)::int AS "expectation" FROM "guarded"`;
}

/**
 * Each round trip to the database costs more than the statements themselves (on small
 * machines a socket write that wakes the server is a good part of a job's CPU, and across a
 * network it is the latency), so a transaction goes in as few round trips as possible: its
 * statements are sent together with BEGIN and COMMIT, expectations are checked by the
 * database itself (a failed one aborts the transaction), and only a statement whose rows the
 * caller must check itself ends a round trip.
 */
type Prepared = { step: BatchStep; text: string; checkedByDatabase: boolean };

function segmentsOf(steps: readonly BatchStep[]): Prepared[][] {
  const segments: Prepared[][] = [[]];
  for (const step of steps) {
    const wrapped = guarded(step);
    segments[segments.length - 1]!.push({ step, text: wrapped ?? inline(step), checkedByDatabase: wrapped !== null });
    if (step.expectChanges !== undefined && wrapped === null) segments.push([]);
  }
  return segments;
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

  // Hot statements are prepared once per connection and then only bound and executed.
  const names = new Map<string, string>();
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMED_STATEMENTS) {
      name = `s_${createHash("sha1").update(text).digest("hex").slice(0, 16)}`;
      names.set(text, name);
    }
    return name;
  };

  const stats = { statements: 0, transactions: 0 };
  const query = (statement: SqlStatement) => {
    stats.statements++;
    const text = toPositional(statement.sql);
    const name = nameOf(text);
    return pool.query({ text, values: statement.params.map(bind), ...(name ? { name } : {}) });
  };

  const transact = async (steps: readonly BatchStep[]): Promise<Record<string, unknown>[][] | null> => {
    const client = await pool.connect();
    const rows: Record<string, unknown>[][] = [];
    try {
      const segments = segmentsOf(steps);
      for (const [index, segment] of segments.entries()) {
        const first = index === 0;
        const last = index === segments.length - 1;
        const texts = [...(first ? ["BEGIN"] : []), ...segment.map((prepared) => prepared.text), ...(last ? ["COMMIT"] : [])];
        if (texts.length === 0) continue;
        stats.statements += segment.length;
        const results = [(await client.query(texts.join(";\n"))) as pg.QueryResult | pg.QueryResult[]].flat();
        const own = results.slice(first ? 1 : 0, (first ? 1 : 0) + segment.length);
        for (const [offset, { step, checkedByDatabase }] of segment.entries()) {
          const result = own[offset]!;
          if (checkedByDatabase) {
            rows.push([]);
            continue;
          }
          rows.push(result.rows as Record<string, unknown>[]);
          // rowCount is rows changed for INSERT/UPDATE/DELETE (RETURNING included) and rows read for SELECT.
          if (step.expectChanges !== undefined && (result.rowCount ?? 0) !== step.expectChanges) throw new BatchRollback();
        }
      }
      stats.transactions++;
      return rows;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      if (error instanceof BatchRollback || (error instanceof Error && error.message.includes(EXPECTATION_FAILED))) return null;
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
