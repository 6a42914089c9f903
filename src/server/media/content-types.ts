/**
 * The Content-Type we serve a stored file with, derived from what our own probe found
 * (ffprobe's format name, or "srt" for subtitles we parsed) and never from what the
 * uploading client claimed: a client that labels an upload `text/html` must not get it
 * rendered as a page on the dashboard's origin. Every type here is inert in a browser
 * (media or plain text); anything unrecognised is served as opaque bytes.
 */

/** Containers that hold audio or video alike: the file's extension picks which to say. */
const AMBIGUOUS_CONTAINERS: ReadonlyArray<{ formats: readonly string[]; audio: string; video: string }> = [
  { formats: ["mov", "mp4", "m4a", "3gp", "3g2", "mj2"], audio: "audio/mp4", video: "video/mp4" },
  { formats: ["matroska", "webm"], audio: "audio/webm", video: "video/webm" },
  { formats: ["ogg"], audio: "audio/ogg", video: "video/ogg" },
  { formats: ["asf"], audio: "audio/x-ms-wma", video: "video/x-ms-wmv" },
];

const SINGLE_FORMATS: Readonly<Record<string, string>> = {
  wav: "audio/wav",
  w64: "audio/wav",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  aac: "audio/aac",
  aiff: "audio/aiff",
  amr: "audio/amr",
  caf: "audio/x-caf",
  au: "audio/basic",
  opus: "audio/ogg",
  avi: "video/x-msvideo",
  flv: "video/x-flv",
  mpeg: "video/mpeg",
  mpegts: "video/mp2t",
  // Subtitles are served as text so a browser shows them and never interprets them.
  srt: "text/plain; charset=utf-8",
};

const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|qt|3gp|3g2|mkv|webm|ogv|wmv|avi|flv|mpe?g|ts)$/i;

export const OPAQUE_CONTENT_TYPE = "application/octet-stream";

/**
 * The Content-Type of a file whose probe reported `format` (ffprobe's comma-separated
 * format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"); `fileName` only chooses between the audio
 * and video spelling of a container that can be either.
 */
export function contentTypeOfFormat(format: string | null, fileName: string): string {
  if (!format) return OPAQUE_CONTENT_TYPE;
  const names = format.toLowerCase().split(",").map((name) => name.trim());
  for (const name of names) {
    const single = SINGLE_FORMATS[name];
    if (single) return single;
  }
  const container = AMBIGUOUS_CONTAINERS.find((entry) => names.some((name) => entry.formats.includes(name)));
  if (container) return VIDEO_EXTENSIONS.test(fileName) ? container.video : container.audio;
  return OPAQUE_CONTENT_TYPE;
}
