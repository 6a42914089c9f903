"""A small but valid Hugging Face `tokenizer.json` (byte-level BPE, like
Whisper's) plus `config.json`, `generation_config.json`,
`preprocessor_config.json` and `tokenizer_config.json` that use this
vocabulary's ids, exactly where HF exports of real Whisper models put them.

Id layout (same shape as Whisper's): [text tokens][<|endoftext|>]
[<|startoftranscript|>][99 languages][<|translate|>][<|transcribe|>]
[<|startoflm|>][<|startofprev|>][<|nospeech|>][<|notimestamps|>]
[1501 timestamps <|0.00|> .. <|30.00|>].
"""

from collections import Counter
import re

# openai/whisper tokenizer.LANGUAGES order (the 99 of Whisper v1/v2).
LANGUAGES = (
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su"
).split()
assert len(LANGUAGES) == 99

TASK_TOKENS = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
N_TIMESTAMPS = 1501  # 0.00 .. 30.00 in steps of 0.02 s

# GPT-2's pre-tokenisation regex, restricted to what Python's `re` can express.
# Only used to learn merges from ASCII text; the runtime tokenizer uses the real one.
_PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (also its first 256 vocab ids' order)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_CHARS = bytes_to_unicode()


def _to_symbols(word: str) -> tuple[str, ...]:
    return tuple(BYTE_CHARS[b] for b in word.encode("utf-8"))


def learn_bpe(text: str, n_merges: int) -> list[tuple[str, str]]:
    """Classic BPE training; ties go to the lexicographically smallest pair so the result is deterministic."""
    words = Counter(_to_symbols(w) for w in _PRETOKENIZE.findall(text))
    merges = []
    while len(merges) < n_merges:
        pairs = Counter()
        for word, freq in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        words = Counter({_merge_word(w, best): f for w, f in words.items()})
    return merges


def _merge_word(word, pair):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


class Vocab:
    def __init__(self, text: str, n_merges: int, pad_text_vocab_to: int | None):
        self.merges = learn_bpe(text, n_merges)
        tokens = list(BYTE_CHARS.values()) + [a + b for a, b in self.merges]
        assert len(set(tokens)) == len(tokens)
        if pad_text_vocab_to:
            # Unreachable filler entries so that the special ids equal real Whisper's
            # (<|endoftext|> = 50257) for the full-size benchmark model.
            tokens += [f"<filler{i}>" for i in range(len(tokens), pad_text_vocab_to)]
        self.text_tokens = tokens
        self.eot = len(tokens)
        specials = ["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{l}|>" for l in LANGUAGES] + TASK_TOKENS
        self.specials = {tok: self.eot + i for i, tok in enumerate(specials)}
        self.timestamp_begin = self.eot + len(specials)
        self.timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(N_TIMESTAMPS)]
        self.size = self.timestamp_begin + N_TIMESTAMPS
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}

    def id(self, token: str) -> int:
        return self.specials[token]

    def encode(self, text: str) -> list[int]:
        """Plain BPE encode (no specials); used for suppress_tokens, as Whisper computes them."""
        index = {t: i for i, t in enumerate(self.text_tokens)}
        ids = []
        for piece in _PRETOKENIZE.findall(text):
            word = _to_symbols(piece)
            while len(word) > 1:
                pairs = [(self.ranks.get(p, 1 << 30), p) for p in zip(word, word[1:])]
                rank, pair = min(pairs)
                if rank == 1 << 30:
                    break
                word = _merge_word(word, pair)
            ids += [index[s] for s in word]
        return ids

    def suppress_tokens(self) -> list[int]:
        """openai/whisper `Tokenizer.non_speech_tokens` plus the task specials HF adds."""
        symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
        symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
        misc = set("♩♪♫♬♭♮♯")
        # Whisper assumes " -" and " '" are single tokens; in a small vocabulary they
        # may split into "Ġ" + symbol, and suppressing a bare space would be wrong.
        result = {ids[0] for ids in (self.encode(" -"), self.encode(" '")) if len(ids) == 1}
        space = self.encode(" ")[0]
        for symbol in symbols + sorted(misc):
            for ids in (self.encode(symbol), self.encode(" " + symbol)):
                if (len(ids) == 1 or symbol in misc) and ids[0] != space:
                    result.add(ids[0])
        result |= {self.id(t) for t in ["<|startoftranscript|>", "<|translate|>", "<|transcribe|>",
                                          "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]}
        return sorted(result)

    def begin_suppress_tokens(self) -> list[int]:
        return [self.encode(" ")[0], self.eot]  # " " and <|endoftext|>, as Whisper's [220, 50257]


def tokenizer_json(v: Vocab) -> dict:
    def added(id_, content, special):
        return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": special}
    added_tokens = [added(i, t, True) for t, i in v.specials.items()]
    # HF's Whisper tokenizers list timestamps as non-special added tokens.
    added_tokens += [added(v.timestamp_begin + i, t, False) for i, t in enumerate(v.timestamps)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
            "vocab": {t: i for i, t in enumerate(v.text_tokens)},
            "merges": [f"{a} {b}" for a, b in v.merges],
        },
    }


def tokenizer_config_json(v: Vocab) -> dict:
    return {
        "tokenizer_class": "WhisperTokenizer",
        "add_prefix_space": False, "errors": "replace", "model_max_length": 1024,
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": True, "language": None, "task": None, "predict_timestamps": False,
    }


def config_json(v: Vocab, d) -> dict:
    return {
        "_name_or_path": f"whisper-test-random-d{d.d_model}",
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu", "activation_dropout": 0.0, "attention_dropout": 0.0, "dropout": 0.0,
        "encoder_layerdrop": 0.0, "decoder_layerdrop": 0.0, "init_std": 0.02, "scale_embedding": False,
        "vocab_size": v.size, "d_model": d.d_model, "num_mel_bins": d.n_mels,
        "encoder_layers": d.encoder_layers, "encoder_attention_heads": d.encoder_heads, "encoder_ffn_dim": d.encoder_ffn,
        "decoder_layers": d.decoder_layers, "decoder_attention_heads": d.decoder_heads, "decoder_ffn_dim": d.decoder_ffn,
        "num_hidden_layers": d.encoder_layers,
        "max_source_positions": d.max_source_positions, "max_target_positions": d.max_target_positions,
        "max_length": d.max_target_positions,
        "decoder_start_token_id": v.id("<|startoftranscript|>"),
        "bos_token_id": v.eot, "eos_token_id": v.eot, "pad_token_id": v.eot,
        "begin_suppress_tokens": v.begin_suppress_tokens(),
        "suppress_tokens": v.suppress_tokens(),
        "forced_decoder_ids": [[1, v.id("<|en|>")], [2, v.id("<|transcribe|>")], [3, v.id("<|notimestamps|>")]],
        "is_encoder_decoder": True, "use_cache": True, "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "median_filter_width": 7,
    }


def generation_config_json(v: Vocab, d) -> dict:
    # Random weights: no head really aligns; these are just valid [layer, head] pairs.
    alignment_heads = [[d.decoder_layers - 1, h] for h in range(min(2, d.decoder_heads))]
    return {
        "alignment_heads": alignment_heads,
        "begin_suppress_tokens": v.begin_suppress_tokens(),
        "bos_token_id": v.eot,
        "decoder_start_token_id": v.id("<|startoftranscript|>"),
        "eos_token_id": v.eot,
        "pad_token_id": v.eot,
        "forced_decoder_ids": [[1, None], [2, v.id("<|transcribe|>")]],
        "is_multilingual": True,
        "lang_to_id": {f"<|{l}|>": v.id(f"<|{l}|>") for l in LANGUAGES},
        "task_to_id": {"translate": v.id("<|translate|>"), "transcribe": v.id("<|transcribe|>")},
        "max_initial_timestamp_index": 50,
        "max_length": d.max_target_positions,
        "no_timestamps_token_id": v.id("<|notimestamps|>"),
        "prev_sot_token_id": v.id("<|startofprev|>"),
        "return_timestamps": False,
        "suppress_tokens": v.suppress_tokens(),
        "transformers_version": "4.31.0",
    }


def preprocessor_config_json(n_mels: int) -> dict:
    # What WhisperFeatureExtractor.to_dict() writes (recent transformers drop `mel_filters`).
    return {
        "chunk_length": 30, "feature_extractor_type": "WhisperFeatureExtractor", "feature_size": n_mels,
        "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000,
        "padding_side": "right", "padding_value": 0.0, "processor_class": "WhisperProcessor",
        "return_attention_mask": False, "sampling_rate": 16000,
    }
