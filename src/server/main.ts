import path from "node:path";
import { fileURLToPath } from "node:url";
import { createApp } from "./app";
import { ConfigError, loadConfig } from "./env";
import { describeError } from "./errors";
import { createHttpServer, type FallbackHandler } from "./http/create-server";
import { createLogger } from "./logger";
import { installProcessGuards } from "./process-guards";

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Loads the prebuilt Next.js dashboard as a request handler for the paths the API does not own. */
async function loadDashboard(): Promise<FallbackHandler> {
  const { default: next } = await import("next");
  const dashboard = next({ dev: false, dir: PROJECT_ROOT, quiet: true });
  await dashboard.prepare();
  const handle = dashboard.getRequestHandler();
  return (req, res) => handle(req, res);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const app = await createApp(config, { logger });
  // After the app: its engines load the libraries whose own handlers this replaces.
  installProcessGuards(logger);
  const fallback = config.serveUi ? await loadDashboard() : undefined;
  const server = createHttpServer(app, fallback);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("listening", { port, host: config.host, parallel: config.parallel, database: app.database.provider, ui: config.serveUi });

  // First signal drains (running jobs finish, up to SHUTDOWN_GRACE_MS, then go back to the
  // queue); a second one aborts them at once and they go back to the queue now.
  let signals = 0;
  const exitAfter = (closing: Promise<void>) =>
    closing.then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error("shutdown failed", { error: describeError(error) });
        process.exit(1);
      },
    );
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn("second signal: forcing shutdown", { signal });
      void exitAfter(app.close({ force: true }));
      return;
    }
    logger.info("shutting down", { signal, graceMs: config.shutdownGraceMs });
    server.close();
    server.closeIdleConnections();
    void exitAfter(app.close());
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${describeError(error)}\n`);
  process.exit(1);
});
