"use client";

import { useEffect, useRef, useState } from "react";
import { mediaContentUrl } from "../api-key";
import { formatClock } from "../format";
import type { Cue } from "./srt-cues";

/** The cue playing at `time`: the last one that has started, if it has not ended. */
function cueAt(cues: readonly Cue[], time: number): number {
  let found = -1;
  for (let i = 0; i < cues.length; i++) {
    if (cues[i]!.startS <= time) found = i;
    else break;
  }
  return found >= 0 && time < cues[found]!.endS ? found : -1;
}

function looksLikeVideo(media: { contentType: string | null; originalName: string }): boolean {
  return Boolean(media.contentType?.startsWith("video/")) || /\.(mp4|m4v|mov|mkv|webm|avi|ogv)$/i.test(media.originalName);
}

/**
 * The job's audio or video with its transcript beside it: the cue being spoken is
 * highlighted, and clicking (or Enter on) a cue seeks there.
 */
export function SyncedPlayer({ media, cues }: { media: { id: string; contentType: string | null; originalName: string }; cues: readonly Cue[] }) {
  const player = useRef<HTMLVideoElement & HTMLAudioElement>(null);
  const list = useRef<HTMLOListElement>(null);
  const [current, setCurrent] = useState(-1);
  const [time, setTime] = useState(0);

  useEffect(() => {
    const element = player.current;
    if (!element) return;
    const onTime = () => {
      setTime(element.currentTime);
      setCurrent(cueAt(cues, element.currentTime));
    };
    element.addEventListener("timeupdate", onTime);
    element.addEventListener("seeked", onTime);
    return () => {
      element.removeEventListener("timeupdate", onTime);
      element.removeEventListener("seeked", onTime);
    };
  }, [cues]);

  // Keep the spoken cue in view while playing, without stealing the page's scroll.
  useEffect(() => {
    if (current < 0 || !player.current || player.current.paused) return;
    const item = list.current?.querySelector<HTMLElement>(`[data-cue="${current}"]`);
    const box = list.current;
    if (item && box) box.scrollTop = item.offsetTop - box.offsetTop - box.clientHeight / 3;
  }, [current]);

  const seek = (cue: Cue) => {
    if (!player.current) return;
    player.current.currentTime = cue.startS;
    setCurrent(cueAt(cues, cue.startS));
  };

  const src = mediaContentUrl(media.id);
  return (
    <div className="synced">
      <div className="player">
        {looksLikeVideo(media) ? (
          <video ref={player} controls preload="metadata" src={src} aria-label={`Video: ${media.originalName}`} />
        ) : (
          <audio ref={player} controls preload="metadata" src={src} aria-label={`Audio: ${media.originalName}`} />
        )}
        <p className="muted small" aria-live="off">
          Position <span data-testid="player-time">{formatClock(time)}</span>
        </p>
      </div>
      {cues.length === 0 ? (
        <p className="muted">No speech was found in this file.</p>
      ) : (
        <ol ref={list} className="cue-list" aria-label="Transcript; choose a line to play from there">
          {cues.map((cue, i) => (
            <li key={i} data-cue={i}>
              <button type="button" className={`cue ${i === current ? "cue-current" : ""}`} aria-current={i === current ? "true" : undefined} onClick={() => seek(cue)}>
                <span className="cue-time">{formatClock(cue.startS)}</span>
                <span className="cue-text">{cue.text}</span>
              </button>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
