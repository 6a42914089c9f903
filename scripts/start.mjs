// `npm start`: build the dashboard if there is no build yet (or SERVE_UI=false skips it),
// then run the server. Extra arguments (--parallel N, --all-formats DIR) pass through.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { withMallocSettings } from "./malloc-env.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const serveUi = !["false", "0", "no"].includes((process.env.SERVE_UI ?? "true").toLowerCase());

if (serveUi && !fs.existsSync(path.join(root, ".next", "BUILD_ID"))) {
  console.error("No dashboard build found: running `npm run build` first…");
  const build = spawnSync(process.execPath, [path.join(root, "scripts/build.mjs")], { cwd: root, stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "src/server/main.ts"), ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
  // glibc's mmap threshold: see malloc-env.mjs for the value and the trade it makes.
  env: withMallocSettings({ NODE_ENV: "production", ...process.env }),
});
// Forward signals so the server drains on the first and forces on the second.
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
