import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { makeTempDir, type TempDir } from "../helpers/fixtures";
import { startServerProcess, type ServerProcess } from "../helpers/server-process";

/** Sends one raw HTTP/1.1 request line (bypassing fetch, which would normalise it) and returns the status code. */
async function rawStatus(port: number, requestTarget: string): Promise<number> {
  const socket = net.connect(port, "127.0.0.1");
  let response = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => (response += chunk));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(`GET ${requestTarget} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  assert.ok(match, `no HTTP status line in ${JSON.stringify(response.slice(0, 200))}`);
  return Number(match[1]);
}

describe("request targets the URL parser refuses", () => {
  let temp: TempDir;
  let server: ServerProcess;

  before(async () => {
    temp = await makeTempDir("hostile-");
    server = await startServerProcess({ env: { DATA_DIR: temp.dir, API_KEYS: "secret-key" } });
  });
  after(async () => {
    await server?.kill("SIGKILL");
    await temp?.cleanup();
  });

  for (const target of ["//", "//a b", "http://[", "/v2/jobs/%E0%A4%A"]) {
    it(`answers ${JSON.stringify(target)} with 400 before any key check, and keeps serving`, async () => {
      assert.equal(await rawStatus(server.port, target), 400);
      const live = await fetch(`${server.baseUrl}/live`);
      assert.equal(live.status, 200);
      assert.equal(server.child.exitCode, null, "the server process is still running");
    });
  }

  it("kept no stack trace or library source out of its log", () => {
    assert.doesNotMatch(server.output(), /KissFFT|    at /);
  });
});
