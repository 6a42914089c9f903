#!/usr/bin/python3
"""Generates a random-weight Whisper-architecture model in the Hugging Face /
optimum ONNX layout, plus reference outputs from the PyTorch forward pass.

    /usr/bin/python3 tools/whisper-test-model/generate.py --size tiny --out tests/fixtures/whisper-tiny
    /usr/bin/python3 tools/whisper-test-model/generate.py --size base --out /tmp/whisper-base-random
    /usr/bin/python3 tools/whisper-test-model/generate.py --size tiny --decoder-inputs positions \
        --out tests/fixtures/whisper-tiny-positions

Needs Debian's python3-torch, python3-onnx and python3-numpy (see README.md).
Deterministic: the same seed gives the same weights, tokens and reference data.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import wave

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import features  # noqa: E402
import onnx_export  # noqa: E402
import tokenizer_files  # noqa: E402
import word_alignment  # noqa: E402
from whisper_model import Dims, Whisper, greedy, init_random  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIP_SOURCE = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
CLIP_SECONDS = 5
GREEDY_STEPS = 24
# What is said in the reference clip's first 5 s (pocketsphinx-testdata's transcription),
# with a comma and a full stop so punctuation tokens are aligned too.
ALIGNMENT_TEXT = " And Mister John Dashwood had then leisure, to consider."
# An initial prompt (previous text): <|startofprev|> and its tokens go before the start.
PROMPT_TEXT = " Mr. Dashwood's leisure, Norland Park."

# tiny keeps the committed fixture small (d_model 32: at 64 the fixture with all
# variants is ~10 MB, mostly embedding rows for the 1608 special/timestamp
# tokens); base has whisper-base's real dimensions and (padded) vocabulary size,
# for benchmarks.
SIZES = {
    "tiny": dict(d_model=32, layers=2, heads=4, ffn=128, merges=300, pad_text_vocab_to=None),
    "base": dict(d_model=512, layers=6, heads=8, ffn=2048, merges=300, pad_text_vocab_to=50257),
}
# variant suffix -> transform applied to every fp32 graph before merging
VARIANTS = {"": None, "_fp16": onnx_export.to_fp16, "_quantized": onnx_export.quantize_int8}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument("--out", required=True, help="model directory to (re)create")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--split-variants", choices=["all", "fp32"], default="all",
                   help="fp32: write fp16/int8 only as encoder + merged decoder (smaller fixture)")
    p.add_argument("--decoder-inputs", choices=onnx_export.DECODER_INPUTS, default="optimum",
                   help="positions: every decoder graph also takes attention_mask [batch, past+new] and "
                        "position_ids [batch, new] (int64), so batch rows can be at different positions")
    p.add_argument("--no-reference", action="store_true",
                   help="do not write reference/ (and remove a stale one)")
    args = p.parse_args()
    started = time.time()
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    cfg = SIZES[args.size]
    with open(os.path.join(HERE, "corpus.txt"), encoding="utf-8") as f:
        vocab = tokenizer_files.Vocab(f.read(), cfg["merges"], cfg["pad_text_vocab_to"])
    dims = Dims(vocab_size=vocab.size, d_model=cfg["d_model"], encoder_layers=cfg["layers"],
                decoder_layers=cfg["layers"], encoder_heads=cfg["heads"], decoder_heads=cfg["heads"],
                encoder_ffn=cfg["ffn"], decoder_ffn=cfg["ffn"])
    model = Whisper(dims)
    init_random(model, args.seed)

    out = args.out
    if os.path.isdir(os.path.join(out, "onnx")):
        shutil.rmtree(os.path.join(out, "onnx"))  # stale variants must not linger
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    write_configs(out, vocab, dims)
    if args.no_reference:
        if os.path.isdir(os.path.join(out, "reference")):
            shutil.rmtree(os.path.join(out, "reference"))  # it could be another model's
        reference = None
    else:
        os.makedirs(os.path.join(out, "reference"), exist_ok=True)
        reference = write_reference(os.path.join(out, "reference"), model, vocab, args)
    write_onnx(os.path.join(out, "onnx"), model, args.split_variants, args.decoder_inputs)

    print(json.dumps({"size": args.size, "decoder_inputs": args.decoder_inputs,
                      "seconds": round(time.time() - started, 1), "vocab_size": vocab.size,
                      "tokens": {g["name"]: g["tokens"] for g in reference["greedy"]} if reference else None,
                      "files": {f: os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs}},
                     indent=1))


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_configs(out: str, vocab, dims) -> None:
    write_json(os.path.join(out, "config.json"), tokenizer_files.config_json(vocab, dims))
    write_json(os.path.join(out, "generation_config.json"), tokenizer_files.generation_config_json(vocab, dims))
    write_json(os.path.join(out, "preprocessor_config.json"), tokenizer_files.preprocessor_config_json(dims.n_mels))
    write_json(os.path.join(out, "tokenizer_config.json"), tokenizer_files.tokenizer_config_json(vocab))
    # tokenizer.json is big-ish: no indentation, like HF's own files
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_files.tokenizer_json(vocab), f, ensure_ascii=False)


def write_f32(path: str, arr) -> list[int]:
    arr = np.ascontiguousarray(np.asarray(arr, dtype="<f4"))
    arr.tofile(path)
    return list(arr.shape)


def write_reference(ref: str, model: Whisper, vocab, args) -> dict:
    """clip.wav, log-mel, mel filters, encoder output and greedy tokens (cached and uncached)."""
    samples, raw, params = features.read_wav_s16_mono(CLIP_SOURCE, CLIP_SECONDS)
    with wave.open(os.path.join(ref, "clip.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(features.SAMPLE_RATE)
        w.writeframes(raw)
    filters = features.mel_filter_bank(model.dims.n_mels)
    mel = features.log_mel(samples, filters)[None]  # [1, n_mels, 3000]

    with torch.no_grad():
        enc = model.encoder(torch.from_numpy(mel))
        silent_enc = model.encoder(torch.from_numpy(features.log_mel(np.zeros(0, np.float32), filters))[None])

    sot, en, de, transcribe, translate, notimestamps, startofprev = (vocab.id(t) for t in [
        "<|startoftranscript|>", "<|en|>", "<|de|>", "<|transcribe|>", "<|translate|>", "<|notimestamps|>", "<|startofprev|>"])
    prompts = {"transcribe": [sot, en, transcribe], "transcribe_notimestamps": [sot, en, transcribe, notimestamps],
               "translate_from_german": [sot, de, translate],
               "transcribe_with_prompt": [startofprev, *vocab.encode(PROMPT_TEXT), sot, en, transcribe]}
    greedy_refs = []
    audio_sensitive = False
    for name, prompt in prompts.items():
        tokens, margins = greedy(model, enc, prompt, GREEDY_STEPS, use_cache=True)
        uncached, _ = greedy(model, enc, prompt, GREEDY_STEPS, use_cache=False)
        assert tokens == uncached, f"{name}: cached {tokens} != uncached {uncached}"
        silent, _ = greedy(model, silent_enc, prompt, GREEDY_STEPS, use_cache=True)
        audio_sensitive |= silent != tokens
        greedy_refs.append({"name": name, "prompt": prompt, "steps": GREEDY_STEPS, "tokens": tokens,
                            **({"prompt_text": PROMPT_TEXT} if name == "transcribe_with_prompt" else {}),
                            "tokens_for_silence": silent,
                            "min_logit_margin": min(margins), "logit_margins": [round(m, 5) for m in margins]})
    assert audio_sensitive, "random model ignores the audio; pick another seed or init scale"

    alignment = word_alignment.find_alignment(
        model, vocab, enc, [sot, en, transcribe], vocab.encode(ALIGNMENT_TEXT),
        num_frames=len(samples) // features.HOP_LENGTH,
        alignment_heads=tokenizer_files.generation_config_json(vocab, model.dims)["alignment_heads"])
    alignment["text"] = ALIGNMENT_TEXT

    reference = {
        "generator": "tools/whisper-test-model/generate.py",
        "size": args.size,
        "seed": args.seed,
        "clip": {"file": "clip.wav", "source": os.path.basename(CLIP_SOURCE), "seconds": CLIP_SECONDS,
                 "samples": len(samples), "sample_rate": features.SAMPLE_RATE, "format": "s16le mono"},
        "log_mel": {"file": "log_mel.f32", "dtype": "float32 little-endian", "layout": "[batch, n_mels, frames]",
                    "shape": write_f32(os.path.join(ref, "log_mel.f32"), mel),
                    "note": "clip padded with zeros to 480000 samples, as WhisperFeatureExtractor does"},
        "mel_filters": {"file": "mel_filters.f32", "dtype": "float32 little-endian", "layout": "[n_mels, n_fft/2+1]",
                        "shape": write_f32(os.path.join(ref, "mel_filters.f32"), filters),
                        "note": "slaney mel scale and slaney norm, 0..8000 Hz (HF mel_filter_bank transposed)"},
        "encoder_output": {"file": "encoder_output.f32", "dtype": "float32 little-endian",
                           "layout": "[batch, frames/2, d_model]",
                           "shape": write_f32(os.path.join(ref, "encoder_output.f32"), enc.numpy())},
        "greedy": greedy_refs,
        "greedy_note": ("argmax for a fixed number of steps, no suppression, not stopping at <|endoftext|>; "
                        "KV-cached and uncached decoding were asserted identical. tokens_for_silence: same "
                        "prompt on an all-zero clip (shows the model depends on the audio). logit_margins: "
                        "top-1 minus top-2 logit per step, for judging rounding robustness."),
        "word_alignment": alignment,
        "word_alignment_note": ("openai-whisper's find_alignment on the clip's encoder output: the decoder run over "
                                "tokens (sot, en, transcribe, notimestamps, text, eot), alignment heads' cross-attention "
                                "over the first num_frames // 2 frames renormalised, standardised over tokens, median "
                                "filter (width 7) over frames, mean over heads, DTW on the negated matrix. words: raw "
                                "DTW starts/ends (s), before punctuation merging; probability: mean token probability."),
        "special_ids": {"endoftext": vocab.eot, "startoftranscript": sot, "en": en, "transcribe": transcribe,
                        "notimestamps": notimestamps, "timestamp_begin": vocab.timestamp_begin},
    }
    write_json(os.path.join(ref, "reference.json"), reference)
    return reference


def write_onnx(onnx_dir: str, model: Whisper, split_variants: str, decoder_inputs: str) -> None:
    layers = model.dims.decoder_layers
    with tempfile.TemporaryDirectory() as tmp:
        graphs = onnx_export.export_all(model, tmp, decoder_inputs)
    for suffix, transform in VARIANTS.items():
        g = {k: transform(m) if transform else m for k, m in graphs.items()}
        save(g["encoder"], onnx_dir, f"encoder_model{suffix}.onnx")
        save(onnx_export.merge_decoders(g["decoder"], g["decoder_with_past"], layers),
             onnx_dir, f"decoder_model_merged{suffix}.onnx")
        if suffix == "" or split_variants == "all":
            save(g["decoder"], onnx_dir, f"decoder_model{suffix}.onnx")
            save(g["decoder_with_past"], onnx_dir, f"decoder_with_past_model{suffix}.onnx")


def save(model, onnx_dir: str, name: str) -> None:
    import onnx
    onnx.save(model, os.path.join(onnx_dir, name))


if __name__ == "__main__":
    main()
