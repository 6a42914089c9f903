import fs from "node:fs/promises";
import path from "node:path";
import { renderTranscript, TRANSCRIPT_FORMATS } from "../transcripts/render-transcript";
import type { JobService } from "./job-service";

/**
 * `--all-formats DIR`: writes `DIR/<jobId>/transcript.<format>` for every format and the
 * job log, as the batch worker does. Files are written to a temp name and renamed, so a
 * reader never sees half a file.
 */
export async function exportJobOutputs(jobs: JobService, dir: string, jobId: string): Promise<void> {
  // Conversions and fixed SRTs produce files, not transcripts: nothing to export.
  if (!(await jobs.get(jobId)).type.match(/^(transcribe|generate_srt)$/)) return;
  const { job, document } = await jobs.transcript(jobId);
  const jobDir = path.join(dir, jobId);
  await fs.mkdir(jobDir, { recursive: true });
  const write = async (name: string, body: string) => {
    const tmp = path.join(jobDir, `.${name}.tmp`);
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, path.join(jobDir, name));
  };
  for (const format of TRANSCRIPT_FORMATS) {
    const rendered = renderTranscript(document, format, { dataName: job.media?.originalName ?? jobId, language: job.language ?? document.language });
    await write(`transcript.${format === "json-v2" ? "json-v2.json" : format}`, rendered.body);
  }
  const log = await jobs.log(jobId);
  await write("job.log", log.map((line) => `${line.at.toISOString()} ${line.level.toUpperCase()} ${line.message}`).join("\n") + "\n");
}
