import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import { createHttpServer } from "../../src/server/http/create-server";
import { startTestApp, type TestApp } from "../helpers/test-app";

/** With the dashboard on the same port, unknown API paths must still get their API's JSON 404. */
describe("unknown API paths with the dashboard served", () => {
  let t: TestApp;
  let server: http.Server;
  let baseUrl: string;

  before(async () => {
    t = await startTestApp("sqlite");
    // Stands in for the Next.js handler: whatever reaches it is a dashboard page.
    server = createHttpServer(t.app, (_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>dashboard</html>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await t?.close();
  });

  it("answers /v2, /api and the async family with their own JSON 404", async () => {
    const v2 = await fetch(`${baseUrl}/v2/nonexistent`);
    assert.equal(v2.status, 404);
    assert.deepEqual(await v2.json(), { code: 404, error: "Not found", detail: "No route for GET /v2/nonexistent" });
    const api = await fetch(`${baseUrl}/api/nothing`, { method: "POST" });
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { code: number }).code, 404);
    const async = await fetch(`${baseUrl}/transcribe-nothing`);
    assert.equal(async.status, 404);
    assert.match(((await async.json()) as { error: string }).error, /No route for GET \/transcribe-nothing/);
  });

  it("answers /v1 in OpenAI's error shape, which its SDKs parse", async () => {
    // /v1/audio/transcriptions exists now (the OpenAI-compatible API): a path under /v1 that does not.
    const response = await fetch(`${baseUrl}/v1/audio/speech`, { method: "POST", body: new FormData() });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { message: string; type: string; code: string } };
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(body.error.code, "not_found");
  });

  it("refuses a wrong method or a cross-site write in the path's own error shape", async () => {
    const openai = await fetch(`${baseUrl}/v1/audio/transcriptions`, { method: "GET" });
    assert.equal(openai.status, 400);
    const openaiBody = (await openai.json()) as { error: { message: string; type: string } };
    assert.equal(openaiBody.error.type, "invalid_request_error");
    assert.match(openaiBody.error.message, /Method GET is not allowed/);
    const crossSite = await fetch(`${baseUrl}/transcribe-batch-async`, { method: "POST", headers: { "sec-fetch-site": "cross-site" }, body: new FormData() });
    assert.equal(crossSite.status, 403);
    assert.match(((await crossSite.json()) as { error: string }).error, /Cross-site/);
    const v2 = await fetch(`${baseUrl}/v2/jobs`, { method: "PUT" });
    assert.equal(v2.status, 400);
    assert.equal(((await v2.json()) as { code: number }).code, 400);
  });

  it("still hands every other path to the dashboard", async () => {
    const page = await fetch(`${baseUrl}/jobs/abc`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /dashboard/);
    assert.match(page.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  });
});
