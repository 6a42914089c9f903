import http from "node:http";
import type { AddressInfo } from "node:net";

/** The parsed body of one chat completions request, as the server received it. */
export type ChatRequest = { model: string; messages: { role: string; content: string }[]; response_format?: { type: string; json_schema?: { name: string; strict?: boolean } } };

/** What the scripted server does with one request: reply with content, or an HTTP error. */
export type ScriptedReply =
  | { kind: "content"; content: string; delayMs?: number }
  | { kind: "error"; status: number; retryAfter?: string; delayMs?: number }
  | { kind: "hang" };

export type FakeOpenAiServer = {
  baseURL: string;
  /** Requests received, in order. */
  requests: ChatRequest[];
  /** The most requests in flight at once. */
  peakInFlight(): number;
  close(): Promise<void>;
};

/**
 * A local stand-in for an OpenAI-compatible endpoint: it speaks POST /v1/chat/completions
 * (JSON in, chat.completion JSON out, errors in OpenAI's shape with Retry-After) and lets
 * each test script the reply to every request.
 */
export async function startFakeOpenAiServer(script: (request: ChatRequest, n: number) => ScriptedReply): Promise<FakeOpenAiServer> {
  const requests: ChatRequest[] = [];
  let inFlight = 0;
  let peak = 0;
  const sockets = new Set<import("node:net").Socket>();
  const server = http.createServer(async (req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
      return;
    }
    inFlight++;
    peak = Math.max(peak, inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChatRequest;
      requests.push(body);
      const reply = script(body, requests.length);
      if (reply.kind === "hang") return; // never answers: the client's timeout must fire
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      if (reply.kind === "error") {
        res.writeHead(reply.status, { "content-type": "application/json", ...(reply.retryAfter ? { "retry-after": reply.retryAfter } : {}) });
        res.end(JSON.stringify({ error: { message: `scripted ${reply.status}`, type: reply.status === 429 ? "rate_limit_exceeded" : "server_error" } }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: "chat.completion",
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: reply.content, refusal: null } }],
          usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
        }),
      );
    } finally {
      inFlight--;
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    peakInFlight: () => peak,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The cues of a fix-srt request (what the model is asked to correct). */
export function requestedCues(request: ChatRequest): { index: number; start: string; end: string; text: string }[] {
  const user = request.messages.find((message) => message.role === "user");
  return (JSON.parse(user?.content ?? "{}") as { cues: { index: number; start: string; end: string; text: string }[] }).cues;
}
