// Worker threads do not inherit tsx's loader on Node 20, so the thread registers it itself
// before importing its TypeScript entry (named in workerData.entry).
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
