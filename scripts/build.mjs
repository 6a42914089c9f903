// Production build: validate the environment, build the Next.js dashboard, and write the
// declarations typed tRPC clients in other projects import (dist/trpc-types).
// The API server runs from source through tsx (see scripts/start.mjs), so it needs no build step.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = (command, args, env = process.env) => {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

// A bad variable fails the build with its name, as it would fail the start.
run(process.execPath, ["--import", "tsx", "src/server/check-env.ts"]);
run(process.execPath, [path.join(root, "node_modules/next/dist/bin/next"), "build"], { ...process.env, NEXT_TELEMETRY_DISABLED: "1" });
run(process.execPath, [path.join(root, "scripts/build-trpc-types.mjs")]);
