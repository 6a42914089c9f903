import { providerFromUrl, sqlitePathFromUrl } from "../database-url";
import { openPostgresSqlClient } from "./postgres-sql-client";
import type { SqlClient } from "./sql-client";
import { openSqliteSqlClient } from "./sqlite-sql-client";

/** Opens the hot-path SQL client for the database at `url` (migrated beforehand). */
export function openSqlClient(url: string, options: { onBackgroundError?: (message: string) => void } = {}): SqlClient {
  return providerFromUrl(url) === "sqlite" ? openSqliteSqlClient(sqlitePathFromUrl(url), options) : openPostgresSqlClient(url);
}
