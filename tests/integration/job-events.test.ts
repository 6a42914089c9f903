import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { migrateDatabase } from "../../src/server/db/migrate";
import { openSqlClient } from "../../src/server/db/sql/open-sql-client";
import type { SqlClient } from "../../src/server/db/sql/sql-client";
import type { EventOrigin, JobEvent, JobEventBus } from "../../src/server/jobs/job-events";
import { createPostgresJobEventBus } from "../../src/server/jobs/postgres-job-events";
import { createLogger } from "../../src/server/logger";
import { createTestDatabase, type TestDatabase } from "../helpers/test-database";

type Heard = { event: JobEvent; origin: EventOrigin };

/** Resolves with the first event `bus` delivers that matches, or rejects after `timeoutMs`. */
function nextEvent(bus: JobEventBus, matches: (heard: Heard) => boolean, timeoutMs = 10_000): Promise<Heard> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error("no matching event arrived"));
    }, timeoutMs);
    const unsubscribe = bus.subscribe((event, origin) => {
      if (!matches({ event, origin })) return;
      clearTimeout(timer);
      unsubscribe();
      resolve({ event, origin });
    });
  });
}

/** Job events cross replicas through LISTEN/NOTIFY: two buses here stand for two control planes. */
describe("job events between replicas on PostgreSQL", () => {
  let database: TestDatabase;
  let sqlA: SqlClient;
  let sqlB: SqlClient;
  let busA: JobEventBus & { ready: Promise<void> };
  let busB: JobEventBus & { ready: Promise<void> };

  before(async () => {
    database = await createTestDatabase("postgresql");
    await migrateDatabase(database.url);
    sqlA = openSqlClient(database.url);
    sqlB = openSqlClient(database.url);
    const logger = createLogger("silent");
    busA = createPostgresJobEventBus({ url: database.url, sql: sqlA, logger });
    busB = createPostgresJobEventBus({ url: database.url, sql: sqlB, logger });
    await Promise.all([busA.ready, busB.ready]);
  });
  after(async () => {
    await busA?.close();
    await busB?.close();
    await sqlA?.close();
    await sqlB?.close();
    await database?.drop();
  });

  it("delivers an event at once to its own process (local) and through NOTIFY to the other (remote), never twice", async () => {
    const heardByA: Heard[] = [];
    const stop = busA.subscribe((event, origin) => heardByA.push({ event, origin }));
    const atB = nextEvent(busB, ({ event }) => event.type === "runnable");
    busA.publish([{ type: "runnable", lane: "llm", at: 1 }]);
    assert.deepEqual(heardByA, [{ event: { type: "runnable", lane: "llm", at: 1 }, origin: "local" }], "delivered synchronously, as local");
    assert.deepEqual(await atB, { event: { type: "runnable", lane: "llm", at: 1 }, origin: "remote" });
    // B's own NOTIFY round trip reaches A as remote; A's own notification is never delivered to A again.
    const back = nextEvent(busA, ({ origin }) => origin === "remote");
    busB.publish([{ type: "changed", jobId: "j-1", parentId: null, status: "DONE", progress: 1 }]);
    assert.equal((await back).event.type, "changed");
    stop();
    assert.equal(heardByA.filter((heard) => heard.event.type === "runnable").length, 1);
  });

  it("splits a burst larger than one NOTIFY payload and keeps every event in order", async () => {
    const count = 400;
    const received: string[] = [];
    const all = new Promise<void>((resolve) => {
      const stop = busB.subscribe((event, origin) => {
        if (origin !== "remote" || event.type !== "changed" || !event.jobId.startsWith("burst-")) return;
        received.push(event.jobId);
        if (received.length === count) {
          stop();
          resolve();
        }
      });
    });
    busA.publish(Array.from({ length: count }, (_, i) => ({ type: "changed" as const, jobId: `burst-${i}`, parentId: "parent-with-a-long-identifier", status: "QUEUED" as const })));
    await all;
    assert.deepEqual(received, Array.from({ length: count }, (_, i) => `burst-${i}`));
  });

  it("reconnects when its connection is killed, tells listeners to resync, and hears events again", async () => {
    const resync = nextEvent(busB, ({ event }) => event.type === "resync", 20_000);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      // Kill every LISTEN connection (the buses'), as a PostgreSQL restart or failover would.
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'`);
      assert.ok(killed.rowCount! >= 1);
    } finally {
      await admin.end();
    }
    assert.deepEqual((await resync).event, { type: "resync" });
    const again = nextEvent(busB, ({ event, origin }) => origin === "remote" && event.type === "runnable" && event.lane === "convert");
    // A may itself still be reconnecting; publish until B hears it.
    const repeat = setInterval(() => busA.publish([{ type: "runnable", lane: "convert", at: 2 }]), 200);
    try {
      await again;
    } finally {
      clearInterval(repeat);
    }
  });
});
