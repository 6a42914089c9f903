"""Word timestamps from cross-attention, ported from openai-whisper's `timing.py`
(`find_alignment`, `median_filter`, `dtw_cpu`, `backtrace`, `split_tokens_on_spaces`),
for the reference the engine's alignment is tested against.

The decoder is run once over <|startoftranscript|> <|lang|> <|task|> <|notimestamps|>
text <|endoftext|>; the alignment heads' cross-attention rows are normalised per frame
over the tokens, median-filtered along time, averaged over heads, and dynamic time
warping finds the monotonic token → frame path; a word starts where the path first
reaches its first token."""

import string

import numpy as np
import torch
import torch.nn.functional as F

from tokenizer_files import BYTE_CHARS

BYTE_OF_CHAR = {c: b for b, c in BYTE_CHARS.items()}

TOKENS_PER_SECOND = 50  # encoder frames per second (20 ms each)


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over a sliding window along the last axis, reflect-padded (openai-whisper's)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    ndim = x.ndim
    if ndim <= 2:
        x = x[None, None, :]
    x = F.pad(x, (pad, pad, 0, 0), mode="reflect")
    result = x.unfold(-1, width, 1).sort()[0][..., pad]
    return result[0, 0] if ndim <= 2 else result


def dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openai-whisper's dtw_cpu + backtrace: cost in float32, ties resolved as there."""
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    trace = -np.ones((n + 1, m + 1), dtype=np.float32)
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = x[i - 1, j - 1] + c
            trace[i, j] = t
    i, j = n, m
    trace[0, :] = 2
    trace[:, 0] = 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        if trace[i, j] == 0:
            i, j = i - 1, j - 1
        elif trace[i, j] == 1:
            i -= 1
        else:
            j -= 1
    path = np.array(path)[::-1, :].T
    return path[0], path[1]


def split_to_words(vocab, text_tokens: list[int]) -> tuple[list[str], list[list[int]]]:
    """split_tokens_on_spaces for ASCII text (every token decodes on its own): a new word at
    a leading space, a punctuation token or a special token (the final <|endoftext|>)."""
    words, word_tokens = [], []
    for token in text_tokens + [vocab.eot]:
        text = "" if token >= vocab.eot else bytes(BYTE_OF_CHAR[c] for c in vocab.text_tokens[token]).decode("utf-8")
        if token >= vocab.eot or text.startswith(" ") or text.strip() in string.punctuation or not words:
            words.append(text)
            word_tokens.append([token])
        else:
            words[-1] += text
            word_tokens[-1].append(token)
    return words, word_tokens


@torch.no_grad()
def find_alignment(model, vocab, encoder_out, sot_sequence: list[int], text_tokens: list[int],
                   num_frames: int, alignment_heads: list[list[int]], medfilt_width: int = 7) -> dict:
    """openai-whisper's find_alignment, with the cross-attention probabilities our graphs
    return. openai softmaxes the raw scores over the first num_frames // 2 frames; from
    probabilities over all 1500 that is the same as renormalising the kept ones."""
    notimestamps, eot = vocab.id("<|notimestamps|>"), vocab.eot
    tokens = sot_sequence + [notimestamps] + text_tokens + [eot]
    cross = model.decoder.cross_kv(encoder_out)
    logits, _, attentions = model.decoder(torch.tensor([tokens]), cross, None)
    probs = logits[0, len(sot_sequence):, :eot].softmax(-1)
    text_token_probs = probs[np.arange(len(text_tokens)), text_tokens].tolist()

    weights = torch.stack([attentions[layer][0, head] for layer, head in alignment_heads])
    weights = weights[:, :, : num_frames // 2]
    weights = weights / weights.sum(-1, keepdim=True)
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = (weights - mean) / std
    weights = median_filter(weights, medfilt_width)
    matrix = weights.mean(axis=0)[len(sot_sequence):-1]
    text_indices, time_indices = dtw(-matrix.double().numpy())

    words, word_tokens = split_to_words(vocab, text_tokens)
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / TOKENS_PER_SECOND
    starts, ends = jump_times[boundaries[:-1]], jump_times[boundaries[1:]]
    return {
        "tokens": tokens,
        "text_tokens": text_tokens,
        "num_frames": num_frames,
        "alignment_heads": alignment_heads,
        "median_filter_width": medfilt_width,
        "text_indices": text_indices.tolist(),
        "time_indices": time_indices.tolist(),
        "words": [
            {"word": w, "tokens": t, "start": round(float(s), 2), "end": round(float(e), 2),
             "probability": float(np.mean(text_token_probs[i:j]))}
            for w, t, s, e, i, j in zip(words[:-1], word_tokens[:-1], starts, ends, boundaries[:-1], boundaries[1:])
        ],
    }
