import { parseListArgs, parseStatusArgs, USAGE } from "./args";
import { createApi, readConnection } from "./connection";
import { download } from "./download-command";
import { messageOf } from "./errors";
import { upload } from "./upload-command";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const connection = readConnection(rest);
  const api = createApi(connection);
  switch (command) {
    case "upload":
      return upload(api, connection, rest);
    case "status": {
      const { id } = parseStatusArgs(rest);
      const { job, batch } = await api.jobs.get.query({ id });
      process.stdout.write(`${JSON.stringify({ id: job.id, type: job.type, status: job.status, progress: job.progress, failureReason: job.failureReason, ...(batch ? { batch } : {}) }, null, 2)}\n`);
      return 0;
    }
    case "list": {
      const { status, limit } = parseListArgs(rest);
      const page = await api.jobs.list.query({ limit, ...(status ? { status: [status.toUpperCase() as "DONE"] } : {}) });
      for (const job of page.jobs) process.stdout.write(`${job.id}  ${job.status.padEnd(9)} ${job.type.padEnd(18)} ${job.media?.originalName ?? ""}\n`);
      return 0;
    }
    case "download":
      return download(api, connection, rest);
    default:
      process.stdout.write(`${USAGE}\n`);
      return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`transcribe-cli: ${messageOf(error)}\n`);
    process.exit(1);
  },
);
