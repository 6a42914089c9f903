"""A small, faithful PyTorch re-implementation of Hugging Face's
`WhisperForConditionalGeneration` (inference only, no dropout).

Parameter names and layout follow HF (`model.encoder.conv1`, `q_proj`/`k_proj`
(no bias)/`v_proj`/`out_proj`, pre-LN blocks, `proj_out` tied to
`embed_tokens`), so the exported graphs look like optimum's and the maths is the
same as the real model's. Weights are random, drawn from a fixed seed.
"""

from dataclasses import dataclass
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Dims:
    vocab_size: int
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_heads: int
    decoder_heads: int
    encoder_ffn: int
    decoder_ffn: int
    n_mels: int = 80
    max_source_positions: int = 1500  # 3000 mel frames after the stride-2 conv
    max_target_positions: int = 448


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed encoder position table ([sin | cos], not interleaved)."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float64))
    scaled_time = torch.arange(length, dtype=torch.float64)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1).float()


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.scaling = self.head_dim ** -0.5
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)  # as in Whisper
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq, d_model] -> [batch, heads, seq, head_dim] (the KV cache layout)."""
        return x.view(x.shape[0], -1, self.heads, self.head_dim).transpose(1, 2)

    def project_kv(self, x: torch.Tensor):
        return self.split_heads(self.k_proj(x)), self.split_heads(self.v_proj(x))

    def forward(self, x, key, value, mask=None, need_weights=False):
        """need_weights: also return the attention probabilities [batch, heads, new, keys]
        (what HF returns as `cross_attentions` and word timestamps are aligned from)."""
        # HF scales q before the product; doing it the same way keeps rounding close.
        q = self.split_heads(self.q_proj(x) * self.scaling)
        scores = torch.matmul(q, key.transpose(-1, -2))
        if mask is not None:
            scores = scores + mask
        weights = torch.softmax(scores, dim=-1)
        out = self.out_proj(torch.matmul(weights, value).transpose(1, 2).flatten(2))
        return (out, weights) if need_weights else out


class EncoderLayer(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.self_attn = Attention(d.d_model, d.encoder_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d.d_model)
        self.fc1 = nn.Linear(d.d_model, d.encoder_ffn)
        self.fc2 = nn.Linear(d.encoder_ffn, d.d_model)
        self.final_layer_norm = nn.LayerNorm(d.d_model)

    def forward(self, x):
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.project_kv(h)
        x = x + self.self_attn(h, k, v)
        h = self.final_layer_norm(x)
        return x + self.fc2(F.gelu(self.fc1(h)))


class DecoderLayer(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.self_attn = Attention(d.d_model, d.decoder_heads)
        self.self_attn_layer_norm = nn.LayerNorm(d.d_model)
        self.encoder_attn = Attention(d.d_model, d.decoder_heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(d.d_model)
        self.fc1 = nn.Linear(d.d_model, d.decoder_ffn)
        self.fc2 = nn.Linear(d.decoder_ffn, d.d_model)
        self.final_layer_norm = nn.LayerNorm(d.d_model)

    def forward(self, x, mask, past_kv, cross_kv):
        """Returns the new hidden state, this layer's full self-attention K/V and its
        cross-attention probabilities [batch, heads, new, frames]."""
        h = self.self_attn_layer_norm(x)
        k, v = self.self_attn.project_kv(h)
        if past_kv is not None:
            k = torch.cat([past_kv[0], k], dim=2)
            v = torch.cat([past_kv[1], v], dim=2)
        x = x + self.self_attn(h, k, v, mask)
        h = self.encoder_attn_layer_norm(x)
        attended, cross_weights = self.encoder_attn(h, cross_kv[0], cross_kv[1], need_weights=True)
        x = x + attended
        h = self.final_layer_norm(x)
        return x + self.fc2(F.gelu(self.fc1(h))), (k, v), cross_weights


class Encoder(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.conv1 = nn.Conv1d(d.n_mels, d.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d.d_model, d.d_model, kernel_size=3, stride=2, padding=1)
        # HF keeps the sinusoids in an (untrained) embedding table.
        self.embed_positions = nn.Embedding(d.max_source_positions, d.d_model)
        self.layers = nn.ModuleList(EncoderLayer(d) for _ in range(d.encoder_layers))
        self.layer_norm = nn.LayerNorm(d.d_model)

    def forward(self, input_features):
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.embed_positions.weight  # input must be exactly 3000 frames, as in HF
        for layer in self.layers:
            x = layer(x)
        return self.layer_norm(x)


class Decoder(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.embed_tokens = nn.Embedding(d.vocab_size, d.d_model)
        self.embed_positions = nn.Embedding(d.max_target_positions, d.d_model)
        self.layers = nn.ModuleList(DecoderLayer(d) for _ in range(d.decoder_layers))
        self.layer_norm = nn.LayerNorm(d.d_model)

    def cross_kv(self, encoder_hidden_states):
        """Per-layer cross-attention K/V; computed once per utterance, then cached."""
        return [layer.encoder_attn.project_kv(encoder_hidden_states) for layer in self.layers]

    def forward(self, input_ids, cross_kv, past_kv=None, attention_mask=None, position_ids=None):
        """input_ids: [batch, new_tokens]; past_kv: per-layer (k, v) or None.
        attention_mask: optional int64 [batch, past + new], 1 = real key, 0 = padding.
        position_ids: optional int64 [batch, new], each new token's position (per row).
        Without them (optimum's graphs) positions are past_len + arange(new) for every
        row and only the causal mask applies.
        Returns logits, the per-layer self-attention K/V including the new tokens, and the
        per-layer cross-attention probabilities of the new tokens."""
        past_len = past_kv[0][0].shape[2] if past_kv is not None else 0
        new_len = input_ids.shape[1]
        if position_ids is None:
            positions = self.embed_positions.weight[past_len:past_len + new_len]
        else:
            positions = self.embed_positions(position_ids)  # [batch, new, d_model]
        x = self.embed_tokens(input_ids) + positions
        if attention_mask is None:
            mask = causal_mask(new_len, past_len, x.dtype)
        else:
            mask = padded_causal_mask(attention_mask, new_len, past_len, x.dtype)
        present, cross_attentions = [], []
        for i, layer in enumerate(self.layers):
            x, kv, weights = layer(x, mask, past_kv[i] if past_kv is not None else None, cross_kv[i])
            present.append(kv)
            cross_attentions.append(weights)
        x = self.layer_norm(x)
        # proj_out is tied to embed_tokens (no bias), as in Whisper.
        logits = torch.matmul(x, self.embed_tokens.weight.t())
        return logits, present, cross_attentions


def causal_mask(new_len, past_len, dtype):
    """[new, past+new] additive mask: query i (absolute position past+i) sees keys <= past+i.
    Built from shapes with arange/where so that it traces to dynamic ONNX ops."""
    q_pos = torch.arange(new_len)[:, None] + past_len
    k_pos = torch.arange(new_len + past_len)[None, :]
    return torch.where(k_pos > q_pos, torch.tensor(torch.finfo(dtype).min, dtype=dtype),
                       torch.tensor(0.0, dtype=dtype))


def padded_causal_mask(attention_mask, new_len, past_len, dtype):
    """[batch, 1, new, past+new] additive mask: new token j of row b (key index past+j)
    sees key k iff attention_mask[b, k] == 1 and k <= past+j. The two conditions are
    combined as booleans and turned into ONE where(allowed, 0, min): adding two
    additive masks would overflow to -inf in fp16."""
    q_pos = torch.arange(new_len)[:, None] + past_len
    k_pos = torch.arange(new_len + past_len)[None, :]
    allowed = (k_pos <= q_pos)[None, :, :] & (attention_mask[:, None, :] == 1)
    mask = torch.where(allowed, torch.tensor(0.0, dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype))
    return mask[:, None, :, :]


class Whisper(nn.Module):
    def __init__(self, d: Dims):
        super().__init__()
        self.dims = d
        self.encoder = Encoder(d)
        self.decoder = Decoder(d)


def init_random(model: Whisper, seed: int) -> None:
    """Deterministic random weights. Scales are chosen (roughly fan-in) so that
    activations stay O(1): the untrained model then still attends to the audio and
    its greedy argmax has clear margins, which makes token-level tests meaningful
    (plain std 0.02 init gives near-constant, near-tied logits)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name == "encoder.embed_positions.weight":
                p.copy_(sinusoids(*p.shape))
            elif "layer_norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif name == "decoder.embed_tokens.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif name == "decoder.embed_positions.weight":
                p.copy_(1.0 * torch.randn(p.shape, generator=g))
            else:  # Linear [out, in] and Conv1d [out, in, k] weights
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    model.eval()


@torch.no_grad()
def greedy(model: Whisper, encoder_out, prompt, steps: int, use_cache: bool):
    """Argmax decoding for a fixed number of steps (does not stop at EOT, so a
    random model still yields a full-length sequence). Also returns, per step, the
    gap between the best and second-best logit, so tests know how robust the
    reference is to rounding."""
    cross = model.decoder.cross_kv(encoder_out)
    tokens = list(prompt)
    margins = []
    past = None
    for _ in range(steps):
        if use_cache:
            feed = tokens if past is None else tokens[-1:]
            logits, past, _ = model.decoder(torch.tensor([feed]), cross, past)
        else:
            logits, _, _ = model.decoder(torch.tensor([tokens]), cross, None)
        top2 = torch.topk(logits[0, -1].double(), 2)
        margins.append(float(top2.values[0] - top2.values[1]))
        tokens.append(int(top2.indices[0]))
    return tokens[len(prompt):], margins
