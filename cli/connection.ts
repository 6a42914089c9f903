import { createTRPCClient, httpBatchLink } from "@trpc/client";
import superjson from "superjson";
import type { AppRouter } from "../src/server/api/trpc/root";

/** Where the server is and the API key to send it (a server with API_KEYS needs one). */
export type Connection = { server: string; apiKey: string | null };

/** The value after `--name` in raw arguments, before each command parses its own options. */
function flagValue(args: readonly string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

/** --server / $TRANSCRIBE_SERVER (default http://127.0.0.1:18000) and --api-key / $TRANSCRIBE_API_KEY. */
export function readConnection(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Connection {
  return {
    server: flagValue(args, "--server") ?? env.TRANSCRIBE_SERVER ?? "http://127.0.0.1:18000",
    apiKey: flagValue(args, "--api-key") ?? env.TRANSCRIBE_API_KEY ?? null,
  };
}

export function authHeaders(connection: Connection): Record<string, string> {
  return connection.apiKey ? { authorization: `Bearer ${connection.apiKey}` } : {};
}

/** The typed tRPC client for the server. */
export function createApi(connection: Connection) {
  return createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: new URL("/api/trpc", connection.server).href, transformer: superjson, headers: () => authHeaders(connection) })],
  });
}
export type Api = ReturnType<typeof createApi>;

/** Options every command accepts (parseArgs is strict about the rest). */
export const CONNECTION_OPTIONS = { server: { type: "string" }, "api-key": { type: "string" } } as const;
