// `npm test`: typecheck, then every test file under tests/ with node's test runner (tsx
// loader). Files run one at a time: integration tests start servers, ffmpeg and
// PocketSphinx, and the machines we run on have two cores.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const filter = process.argv.slice(2);

function findTests(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return findTests(full);
    return entry.name.endsWith(".test.ts") ? [full] : [];
  });
}

if (!process.env.SKIP_TYPECHECK) {
  console.log("typecheck: tsc --noEmit");
  const tsc = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", root], { stdio: "inherit" });
  if (tsc.status !== 0) {
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

const order = ["unit", "integration", "e2e"];
const files = order
  .flatMap((kind) => findTests(path.join(root, "tests", kind)).sort())
  .filter((file) => filter.length === 0 || filter.some((f) => file.includes(f)));

const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=./scripts/test-summary-reporter.mjs",
    "--test-reporter-destination=stdout",
    ...files,
  ],
  { cwd: root, stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
