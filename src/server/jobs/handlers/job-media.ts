import type { Job, MediaFile } from "../../db/models";
import { PermanentJobError } from "../../errors";
import type { MediaService } from "../../services/media-service";

/**
 * The media file a job works on: the one its claim read with it, else read now. A job whose
 * file was deleted meanwhile can never run: a permanent failure.
 */
export async function mediaOfJob(job: Job & { mediaFile?: MediaFile | null }, mediaFileId: string, media: MediaService): Promise<MediaFile> {
  const found = job.mediaFile?.id === mediaFileId ? job.mediaFile : await media.find(mediaFileId);
  if (!found) throw new PermanentJobError(`The job's media file ${mediaFileId} no longer exists`);
  return found;
}
