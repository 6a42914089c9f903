/** What each operation accepts, judged from the file name before anything is uploaded. */

const AUDIO = ["wav", "mp3", "m4a", "aac", "flac", "ogg", "oga", "opus", "wma", "aif", "aiff", "amr", "caf", "weba"];
const VIDEO = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "wmv", "flv", "mpeg", "mpg", "ts", "mts", "3gp", "ogv"];

export type Operation = "transcript" | "srt" | "convert" | "fix";

export const OPERATIONS: { value: Operation; label: string; hint: string; batchType: "batch_transcribe" | "batch_generate_srt" | "batch_convert" | "batch_fix_srt" }[] = [
  { value: "transcript", label: "Transcript", hint: "Text, SRT, VTT and word-timed JSON from audio or video", batchType: "batch_transcribe" },
  { value: "srt", label: "Subtitles (SRT)", hint: "Subtitle-first: cues sized for the screen", batchType: "batch_generate_srt" },
  { value: "convert", label: "Convert", hint: "MP4 (H.264/AAC) or audio only", batchType: "batch_convert" },
  { value: "fix", label: "Fix SRT with LLM", hint: "Correct existing .srt files; timings never change", batchType: "batch_fix_srt" },
];

function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

function isMedia(file: File): boolean {
  const ext = extensionOf(file.name);
  return AUDIO.includes(ext) || VIDEO.includes(ext) || file.type.startsWith("audio/") || file.type.startsWith("video/");
}

/** Why a file cannot go through an operation, or null when it can. */
export function rejectReason(file: File, operation: Operation): string | null {
  if (file.size === 0) return "Empty file";
  const subtitles = extensionOf(file.name) === "srt";
  if (operation === "fix") return subtitles ? null : "Not an .srt file";
  if (subtitles) return "Subtitles: choose “Fix SRT with LLM”";
  const ext = extensionOf(file.name);
  return isMedia(file) ? null : `Not audio or video (${ext ? `.${ext}` : "no extension"})`;
}

/** Hidden files and OS clutter a dropped folder brings along. */
export function isJunk(name: string): boolean {
  return name.startsWith(".") || name === "Thumbs.db" || name === "desktop.ini";
}

export const ACCEPT_ATTRIBUTE = [...AUDIO, ...VIDEO, "srt"].map((ext) => `.${ext}`).join(",") + ",audio/*,video/*";
