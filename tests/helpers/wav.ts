/**
 * 16-bit mono PCM WAV files built in memory (no ffmpeg): a sine tone of any length,
 * optionally with a LIST/INFO comment chunk. Zero seconds gives a valid header with no samples.
 */
export function toneWav(options: { frequencyHz?: number; durationS: number; amplitude?: number; sampleRateHz?: number; comment?: string }): Buffer {
  const rate = options.sampleRateHz ?? 16_000;
  const samples = Math.round(rate * options.durationS);
  const amplitude = options.amplitude ?? 8000;
  const frequency = options.frequencyHz ?? 440;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(amplitude * Math.sin((2 * Math.PI * frequency * i) / rate)), i * 2);
  const chunk = (id: string, body: Buffer) => {
    const header = Buffer.alloc(8);
    header.write(id, 0, "ascii");
    header.writeUInt32LE(body.length, 4);
    return Buffer.concat([header, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0); // PCM
  fmt.writeUInt16LE(1, 2); // mono
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE(rate * 2, 8);
  fmt.writeUInt16LE(2, 12);
  fmt.writeUInt16LE(16, 14);
  const info = options.comment ? chunk("LIST", Buffer.concat([Buffer.from("INFO"), chunk("ICMT", Buffer.from(`${options.comment}\0`))])) : Buffer.alloc(0);
  return chunk("RIFF", Buffer.concat([Buffer.from("WAVE"), chunk("fmt ", fmt), info, chunk("data", data)]));
}
