#!/usr/bin/env node
// `transcribe-gpu-worker`: the worker runs from TypeScript sources through tsx, as the server does.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
