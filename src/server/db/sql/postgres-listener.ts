import pg from "pg";

export type PostgresListener = {
  /** Resolves once the first LISTEN is in place (or rejects when the server cannot be reached). */
  ready: Promise<void>;
  /** Safe to call twice. */
  close(): Promise<void>;
};

export type PostgresListenerOptions = {
  url: string;
  /** A plain identifier: it is interpolated into LISTEN. */
  channel: string;
  onNotification(payload: string): void;
  /** LISTEN is in place again after the connection was lost: notifications in between are gone. */
  onReconnect(): void;
  onError(error: unknown): void;
  /** ms before the first reconnect try; doubles up to 30 s. */
  retryBaseMs?: number;
};

const MAX_RETRY_MS = 30_000;

/**
 * A dedicated connection that LISTENs on one channel and reconnects (with backoff) whenever
 * the connection is lost: a PostgreSQL restart or failover must not leave a replica deaf.
 * NOTIFY needs no dedicated connection; it is a statement like any other.
 */
export function listenPostgres(options: PostgresListenerOptions): PostgresListener {
  if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`Invalid channel name: ${options.channel}`);
  let client: pg.Client | null = null;
  let closed = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let delay = options.retryBaseMs ?? 500;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: options.url });
    // Registered before connecting: a connection lost later (server restart) emits here.
    next.on("error", (error) => {
      options.onError(error);
      lost(next);
    });
    next.on("end", () => lost(next));
    next.on("notification", (message) => {
      if (message.channel === options.channel && message.payload !== undefined) options.onNotification(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${options.channel}`);
    } catch (error) {
      next.removeAllListeners("end");
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    delay = options.retryBaseMs ?? 500;
  };

  const lost = (which: pg.Client) => {
    if (client !== which) return;
    client = null;
    which.removeAllListeners("end");
    void which.end().catch(() => undefined);
    scheduleReconnect();
  };

  const scheduleReconnect = () => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect().then(
        () => {
          if (!closed) options.onReconnect();
        },
        (error: unknown) => {
          options.onError(error);
          delay = Math.min(delay * 2, MAX_RETRY_MS);
          scheduleReconnect();
        },
      );
    }, delay);
    retryTimer.unref();
  };

  const ready = connect().catch((error: unknown) => {
    // Start-up goes on without it (the safety poll covers wake-ups); keep trying in the background.
    scheduleReconnect();
    throw error;
  });
  ready.catch(() => undefined);

  let closing: Promise<void> | null = null;
  return {
    ready,
    close() {
      closing ??= (async () => {
        closed = true;
        if (retryTimer) clearTimeout(retryTimer);
        const current = client;
        client = null;
        if (current) {
          current.removeAllListeners("end");
          await current.end().catch(() => undefined);
        }
      })();
      return closing;
    },
  };
}
