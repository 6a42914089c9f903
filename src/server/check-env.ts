import { ConfigError, loadConfig } from "./env";

/** `npm run build` runs this so a bad environment fails the build, naming the variable. */
try {
  const config = loadConfig();
  process.stdout.write(`environment ok (database ${config.databaseUrl.split(":")[0]}, ${config.parallel} engines)\n`);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
