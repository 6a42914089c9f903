import { access } from "node:fs/promises";
import { providerFromUrl } from "./database-url";
import { createEngineAdapterFactory } from "./engine-adapters";
import { withMigrationLock } from "./migration-lock";
import { defaultMigrationsRoot, providerMigrationsDir, readMigrationsList } from "./migrations-dir";
import { NO_FILTER, openSchemaEngine } from "./schema-engine";

/** Options for {@link migrateDatabase}. */
export type MigrateOptions = {
  /** Receives progress lines (lock waits, applied migrations, engine warnings). */
  log?: (line: string) => void;
  /**
   * Root holding one folder per provider (`sqlite/`, `postgresql/`). Defaults to
   * `<cwd>/prisma/migrations`; pass it explicitly where the cwd is not the project root.
   */
  migrationsDir?: string;
};

/**
 * Applies the committed migrations in `<migrationsDir>/<provider>/` that the database at `url`
 * has not seen yet, through Prisma's wasm schema engine, recording them in `_prisma_migrations`
 * exactly as `prisma migrate deploy` does. Idempotent, and safe to call from several processes
 * at once: they take turns under a cross-process lock (see migration-lock.ts). Also safe while
 * other processes have the database open and write to it: on SQLite the engine's own exclusive
 * locking mode is left out (see engine-adapters.ts), so it shares the database like any client.
 *
 * @returns the names of the migrations applied by this call (empty when up to date).
 */
export async function migrateDatabase(url: string, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => undefined);
  const provider = providerFromUrl(url);
  const dir = providerMigrationsDir(opts.migrationsDir ?? defaultMigrationsRoot(), provider);
  // A wrong path would otherwise "succeed" by applying nothing to an empty database.
  await access(dir).catch(() => {
    throw new Error(`No ${provider} migrations folder at ${dir}; pass migrationsDir`);
  });
  const migrationsList = await readMigrationsList(dir, provider);

  return withMigrationLock(url, log, async () => {
    const session = await openSchemaEngine(createEngineAdapterFactory(url), { log });
    try {
      const { appliedMigrationNames } = await session.run((engine) =>
        engine.applyMigrations({ migrationsList, filters: NO_FILTER }),
      );
      for (const name of appliedMigrationNames) log(`migrate: applied ${name}`);
      return { applied: appliedMigrationNames };
    } finally {
      await session.close();
    }
  });
}
