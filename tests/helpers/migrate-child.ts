// Child process for the migration tests: waits for the start signal (a file) when one is named,
// then migrates the database named on the command line and prints the result as one JSON line.
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { migrateDatabase } from "../../src/server/db/migrate";

async function main(): Promise<void> {
  const [url, startSignal] = process.argv.slice(2);
  if (!url) throw new Error("usage: migrate-child.ts <url> [start-signal-file]");
  // Racing children are fully loaded before either starts, so they really race: each says so
  // on stderr, and the test releases them together once both have.
  if (startSignal) {
    process.stderr.write("ready\n");
    while (!existsSync(startSignal)) await sleep(5);
  }
  const result = await migrateDatabase(url);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
