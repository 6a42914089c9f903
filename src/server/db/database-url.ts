import path from "node:path";

/** The database engines the platform runs on; also the folder name under prisma/migrations. */
export type DatabaseProvider = "sqlite" | "postgresql";

/**
 * The database URL to use: `DATABASE_URL` when set, otherwise an SQLite file in `DATA_DIR`.
 */
export function resolveDatabaseUrl(env: { DATABASE_URL?: string; DATA_DIR: string }): string {
  const explicit = env.DATABASE_URL?.trim();
  if (explicit) return explicit;
  return `file:${path.join(env.DATA_DIR, "transcribe.db")}`;
}

/**
 * Picks the provider from the URL scheme: `file:` / `sqlite:` → sqlite,
 * `postgres://` / `postgresql://` → postgresql. Throws on anything else.
 */
export function providerFromUrl(url: string): DatabaseProvider {
  if (/^(file|sqlite):/i.test(url)) return "sqlite";
  if (/^postgres(ql)?:\/\//i.test(url)) return "postgresql";
  // Only the scheme goes into the message: the rest may carry a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? "(none)";
  throw new Error(`Unsupported database URL scheme ${scheme}; use file:, sqlite:, postgres:// or postgresql://`);
}

/**
 * The absolute file path of an SQLite URL (`file:./x.db`, `file:/abs/x.db`, `sqlite:x.db`,
 * `file:///abs/x.db`); query parameters are ignored. Relative paths resolve against the cwd.
 */
export function sqlitePathFromUrl(url: string): string {
  let rest = url.replace(/^(file|sqlite):/i, "");
  const query = rest.indexOf("?");
  if (query !== -1) rest = rest.slice(0, query);
  // `file:///abs` is the RFC 8089 spelling; `file://host/path` is not meaningful for SQLite.
  if (rest.startsWith("//")) rest = rest.replace(/^\/\/[^/]*/, "");
  if (!rest) throw new Error("SQLite database URL has no file path");
  return path.resolve(decodeURIComponent(rest));
}

/** A PostgreSQL URL with its database name replaced; everything else (auth, options) kept. */
export function withPostgresDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** The database name of a PostgreSQL URL. */
export function postgresDatabaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
  if (!name) throw new Error("PostgreSQL database URL names no database");
  return name;
}
