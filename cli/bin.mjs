#!/usr/bin/env node
// `transcribe-cli`: runs from TypeScript sources through tsx, like the server and the worker.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
