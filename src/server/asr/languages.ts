import { AppError } from "../errors";

/**
 * ISO 639-1 codes of the languages Whisper-class models transcribe. A code outside this
 * list is rejected at submission (400); a code inside it that the configured engine does
 * not speak fails the job with a reason naming the engine's languages.
 */
export const KNOWN_LANGUAGES: ReadonlySet<string> = new Set(
  (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh"
  ).split(" "),
);

/**
 * Normalises "en", "en-US", "EN_gb", "auto" to an ISO 639-1 code or "auto".
 * Throws a BAD_REQUEST AppError for anything else.
 */
export function normalizeLanguage(input: string): string {
  const trimmed = input.trim();
  if (trimmed.toLowerCase() === "auto") return "auto";
  const match = /^([a-zA-Z]{2,3})(?:[-_][a-zA-Z0-9]{2,8})*$/.exec(trimmed);
  const code = match?.[1]?.toLowerCase();
  if (!code || !KNOWN_LANGUAGES.has(code)) {
    throw new AppError("BAD_REQUEST", `Unsupported language "${input}": use an ISO 639-1 code such as "en" or "en-US", or "auto"`);
  }
  return code;
}
