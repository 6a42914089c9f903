"""ONNX export in the Hugging Face optimum layout, plus the graph surgery optimum
and onnxruntime's tools would normally do (they are not installable here):
merged decoder (If on `use_cache_branch`), fp16 conversion and int8 dynamic
quantization of MatMul weights. Only `torch` and `onnx` are needed."""

import hashlib

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OPSET = 14  # optimum's default for Whisper; torch 1.13 exports up to 17


def cross_attention_names(layers: int) -> list[str]:
    """The decoders' cross-attention probability outputs, one per layer, named as in the
    Hugging Face exports made for word timestamps (transformers.js `*_timestamped` models):
    [batch, heads, decoder_sequence_length, encoder frames]. Word-level timing aligns tokens
    to audio frames through the alignment heads' rows of these."""
    return [f"cross_attentions.{i}" for i in range(layers)]


def kv_names(prefix: str, layers: int, parts=("decoder", "encoder")) -> list[str]:
    """optimum's per-layer order: decoder.key, decoder.value, encoder.key, encoder.value."""
    return [f"{prefix}.{i}.{part}.{kv}" for i in range(layers) for part in parts for kv in ("key", "value")]


class EncoderGraph(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, input_features):
        return self.encoder(input_features)


class DecoderGraph(nn.Module):
    """decoder_model.onnx: first step, no cache in; emits self- and cross-attention K/V.
    Exported with 2 inputs (optimum) or 4 (`positions`: + attention_mask, position_ids)."""

    def __init__(self, model):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, input_ids, encoder_hidden_states, attention_mask=None, position_ids=None):
        cross = self.decoder.cross_kv(encoder_hidden_states)
        logits, present, cross_attentions = self.decoder(input_ids, cross, None, attention_mask, position_ids)
        out = [logits]
        for (k, v), (ck, cv) in zip(present, cross):
            out += [k, v, ck, cv]
        return tuple(out + cross_attentions)


class DecoderWithPastGraph(nn.Module):
    """decoder_with_past_model.onnx: later steps. Cross-attention K/V come from the
    cache, so (as in optimum) encoder_hidden_states is not an input and the
    encoder K/V are not outputs. With `positions`, attention_mask and position_ids
    follow the past_key_values.* inputs."""

    def __init__(self, model, positions: bool = False):
        super().__init__()
        self.decoder = model.decoder
        self.positions = positions

    def forward(self, input_ids, *rest):
        n = len(self.decoder.layers)
        past_flat, extra = (rest[:4 * n], rest[4 * n:]) if self.positions else (rest, (None, None))
        past = [(past_flat[4 * i], past_flat[4 * i + 1]) for i in range(n)]
        cross = [(past_flat[4 * i + 2], past_flat[4 * i + 3]) for i in range(n)]
        logits, present, cross_attentions = self.decoder(input_ids, cross, past, *extra)
        return tuple([logits] + [t for kv in present for t in kv] + cross_attentions)


def _export(module, args, path, input_names, output_names, dynamic_axes):
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    model = onnx.load(path)
    drop_transposed_duplicates(model.graph)
    onnx.checker.check_model(model)
    return model


DECODER_INPUTS = ("optimum", "positions")


def export_all(model, tmp_dir: str, decoder_inputs: str = "optimum") -> dict[str, onnx.ModelProto]:
    """Exports the three optimum graphs (fp32) and returns them as ModelProtos.
    decoder_inputs "positions": both decoders also take `attention_mask` (int64
    [batch, past + new], 1 = real key, 0 = padding) and `position_ids` (int64
    [batch, new]), so the rows of one batch can be at different positions."""
    assert decoder_inputs in DECODER_INPUTS, decoder_inputs
    positions = decoder_inputs == "positions"
    d = model.dims
    heads, head_dim, n = d.decoder_heads, d.d_model // d.decoder_heads, d.decoder_layers
    batch, enc_len, dec_len, past_len = 1, d.max_source_positions, 3, 4

    encoder = _export(
        EncoderGraph(model), (torch.zeros(batch, d.n_mels, 2 * enc_len),), f"{tmp_dir}/encoder.onnx",
        ["input_features"], ["last_hidden_state"],
        {"input_features": {0: "batch_size", 2: "encoder_sequence_length"},
         "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length / 2"}})

    ids = torch.zeros(batch, dec_len, dtype=torch.int64)
    enc_out = torch.zeros(batch, enc_len, d.d_model)
    present = kv_names("present", n)
    axes = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "encoder_hidden_states": {0: "batch_size", 1: "encoder_sequence_length / 2"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for name in present:
        axes[name] = {0: "batch_size", 2: "decoder_sequence_length" if ".decoder." in name else "encoder_sequence_length / 2"}
    cross_attentions = cross_attention_names(n)
    for name in cross_attentions:
        axes[name] = {0: "batch_size", 2: "decoder_sequence_length", 3: "encoder_sequence_length / 2"}
    args, names = (ids, enc_out), ["input_ids", "encoder_hidden_states"]
    if positions:
        args += (torch.ones(batch, dec_len, dtype=torch.int64), torch.arange(dec_len).repeat(batch, 1))
        names += ["attention_mask", "position_ids"]
        axes["attention_mask"] = {0: "batch_size", 1: "decoder_sequence_length"}
        axes["position_ids"] = {0: "batch_size", 1: "decoder_sequence_length"}
    decoder = _export(DecoderGraph(model), args, f"{tmp_dir}/decoder.onnx", names, ["logits"] + present + cross_attentions, axes)

    past = kv_names("past_key_values", n)
    past_tensors = [torch.zeros(batch, heads, past_len if ".decoder." in p else enc_len, head_dim) for p in past]
    present_dec = kv_names("present", n, parts=("decoder",))
    axes = {"input_ids": {0: "batch_size", 1: "decoder_sequence_length"},
            "logits": {0: "batch_size", 1: "decoder_sequence_length"}}
    for name in past:
        axes[name] = {0: "batch_size", 2: "past_decoder_sequence_length" if ".decoder." in name else "encoder_sequence_length_out"}
    for name in present_dec:
        axes[name] = {0: "batch_size", 2: "past_decoder_sequence_length + 1"}
    for name in cross_attentions:
        axes[name] = {0: "batch_size", 2: "decoder_sequence_length", 3: "encoder_sequence_length_out"}
    args, names = (ids[:, :1], *past_tensors), ["input_ids"] + past
    if positions:
        args += (torch.ones(batch, past_len + 1, dtype=torch.int64), torch.full((batch, 1), past_len, dtype=torch.int64))
        names += ["attention_mask", "position_ids"]
        axes["attention_mask"] = {0: "batch_size", 1: "past_decoder_sequence_length + decoder_sequence_length"}
        axes["position_ids"] = {0: "batch_size", 1: "decoder_sequence_length"}
    with_past = _export(DecoderWithPastGraph(model, positions), args, f"{tmp_dir}/decoder_with_past.onnx",
                        names, ["logits"] + present_dec + cross_attentions, axes)
    return {"encoder": encoder, "decoder": decoder, "decoder_with_past": with_past}


def drop_transposed_duplicates(graph: onnx.GraphProto) -> None:
    """Constant folding stores the tied output projection twice (embed_tokens and
    its transpose). Replace the copy by a Transpose node: same maths, and the
    committed test model stays half the size."""
    inits = {t.name: t for t in graph.initializer}
    two_d = [t for t in graph.initializer if len(t.dims) == 2 and t.dims[0] != t.dims[1]]
    for a in two_d:
        for b in two_d:
            if a.name in inits and b.name in inits and a is not b and list(b.dims) == list(a.dims)[::-1] \
                    and numpy_helper.to_array(a).size > 4096 and a.name < b.name \
                    and np.array_equal(numpy_helper.to_array(a).T, numpy_helper.to_array(b)):
                # keep the one the Gather (embedding lookup) uses, i.e. [vocab, d_model]
                keep, drop = (a, b) if a.dims[0] > a.dims[1] else (b, a)
                graph.node.insert(0, helper.make_node("Transpose", [keep.name], [drop.name],
                                                      name=f"{drop.name}_from_transpose", perm=[1, 0]))
                graph.initializer.remove(drop)
                del inits[drop.name]


# ---------------------------------------------------------------- merged decoder

def _tensor_key(t: TensorProto):
    return t.data_type, tuple(t.dims), hashlib.sha1(numpy_helper.to_array(t).tobytes()).hexdigest()


def _branch(graph: onnx.GraphProto, prefix: str, outer_inputs: set[str], init_names: dict[str, str],
            outputs: list[str], constants: dict[str, TensorProto] | None = None) -> onnx.GraphProto:
    """Turns a whole decoder graph into an If branch: its inputs become outer-scope
    references, its (lifted) initializers are referenced by their outer names, and
    every other value/node is prefixed so the two branches cannot collide.
    `outputs` are the value names (before prefixing) to emit, in If-output order;
    a name in `constants` is emitted as that constant tensor instead."""
    def rename(name: str) -> str:
        if name == "" or name in outer_inputs:
            return name
        return init_names.get(name, prefix + name)

    nodes = []
    for node in graph.node:
        new = onnx.NodeProto()
        new.CopyFrom(node)
        new.name = prefix + node.name
        new.input[:] = [rename(i) for i in node.input]
        new.output[:] = [rename(o) for o in node.output]
        nodes.append(new)
    produced = {o for node in nodes for o in node.output}
    out_infos = []
    for name in outputs:
        target = rename(name)
        if constants and name in constants:
            target = prefix + name + "/placeholder"
            nodes.append(helper.make_node("Constant", [], [target], name=target, value=constants[name]))
        elif target not in produced:  # a pass-through of an outer value: If outputs must be produced inside
            alias = prefix + name + "/identity"
            nodes.append(helper.make_node("Identity", [target], [alias], name=alias))
            target = alias
        out_infos.append(helper.make_tensor_value_info(target, TensorProto.UNDEFINED, None))
    value_info = []
    for vi in graph.value_info:
        new = onnx.ValueInfoProto()
        new.CopyFrom(vi)
        new.name = rename(vi.name)
        value_info.append(new)
    return helper.make_graph(nodes, prefix.rstrip("/"), [], out_infos, value_info=value_info)


def merge_decoders(no_past: onnx.ModelProto, with_past: onnx.ModelProto, layers: int) -> onnx.ModelProto:
    """optimum's decoder_model_merged: one graph, `If(use_cache_branch)`, then =
    with-past graph, else = no-past graph, weights stored once in the outer graph.
    In the cached branch the encoder K/V outputs are empty placeholders, as optimum
    emits them; engines keep the first step's."""
    outer_inits: dict = {}
    used_names: set[str] = set()

    def lift(graph: onnx.GraphProto) -> dict[str, str]:
        names = {}
        for init in graph.initializer:
            key = _tensor_key(init)
            if key not in outer_inits:
                t = TensorProto()
                t.CopyFrom(init)
                base, k = init.name, 0
                while t.name in used_names:
                    k += 1
                    t.name = f"{base}_{k}"
                used_names.add(t.name)
                outer_inits[key] = t
            names[init.name] = outer_inits[key].name
        return names

    else_names, then_names = lift(no_past.graph), lift(with_past.graph)
    past = kv_names("past_key_values", layers)
    outer_inputs = {i.name for i in no_past.graph.input} | set(past)
    present = ["logits"] + kv_names("present", layers) + cross_attention_names(layers)
    else_graph = _branch(no_past.graph, "no_past/", outer_inputs, else_names, present)
    # The with-past graph has no encoder "present". optimum fills those If outputs with
    # empty constants (first dynamic axis 0, later dynamic axes 1), so a cached step returns
    # placeholders and the engine keeps the first step's cross-attention K/V.
    outputs_by_name = {o.name: o for o in no_past.graph.output}
    placeholders = {n: _empty_placeholder(outputs_by_name[n]) for n in present if ".encoder." in n}
    then_graph = _branch(with_past.graph, "with_past/", outer_inputs, then_names, present, placeholders)
    _copy_output_types(else_graph, no_past.graph)
    _copy_output_types(then_graph, no_past.graph)

    # attention_mask (positions graphs) spans past + new keys: take its declaration
    # (dynamic axis name) from the with-past graph, where that is what it says.
    with_past_inputs = {i.name: i for i in with_past.graph.input}
    inputs = [with_past_inputs[i.name] if i.name == "attention_mask" else i for i in no_past.graph.input]
    inputs += [i for i in with_past.graph.input if i.name in past]
    inputs.append(helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]))
    if_node = helper.make_node("If", ["use_cache_branch"], present, name="optimum::if",
                               then_branch=then_graph, else_branch=else_graph)
    graph = helper.make_graph([if_node], "decoder_model_merged", inputs, list(no_past.graph.output),
                              initializer=list(outer_inits.values()))
    merged = helper.make_model(graph, opset_imports=no_past.opset_import, producer_name="whisper-test-model")
    merged.ir_version = no_past.ir_version
    onnx.checker.check_model(merged)
    return merged


def _empty_placeholder(output: onnx.ValueInfoProto) -> TensorProto:
    """An empty tensor shaped like `output`: its first symbolic axis is 0, later symbolic axes 1."""
    dims, seen_dynamic = [], False
    for dim in output.type.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        else:
            dims.append(1 if seen_dynamic else 0)
            seen_dynamic = True
    return helper.make_tensor("placeholder", output.type.tensor_type.elem_type, dims, vals=[])


def _copy_output_types(branch: onnx.GraphProto, source: onnx.GraphProto) -> None:
    """If-branch outputs need an element type; take it positionally from the no-past outputs."""
    for out, src in zip(branch.output, source.output):
        out.type.tensor_type.elem_type = src.type.tensor_type.elem_type


# ---------------------------------------------------------------- fp16

FP16_MAX = 65504.0


def _tensor_to_fp16(t: TensorProto) -> None:
    if t.data_type == TensorProto.FLOAT:
        # clip first: finfo(float32).min mask constants would otherwise become -inf (harmless) or NaN risks
        arr = np.clip(numpy_helper.to_array(t), -FP16_MAX, FP16_MAX).astype(np.float16)
        t.CopyFrom(numpy_helper.from_array(arr, t.name))


def _graph_to_fp16(graph: onnx.GraphProto) -> None:
    for init in graph.initializer:
        _tensor_to_fp16(init)
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                _tensor_to_fp16(attr.t)
            elif attr.type == onnx.AttributeProto.GRAPH:
                _graph_to_fp16(attr.g)
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Whole-graph fp16, inputs and outputs included (onnxconverter-common's
    `convert_float_to_float16(keep_io_types=False)`): features, encoder states,
    logits and the KV cache are float16 tensors. onnxruntime's CPU provider
    inserts casts around ops it lacks fp16 kernels for."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    _graph_to_fp16(out.graph)
    onnx.checker.check_model(out)
    return out


# ---------------------------------------------------------------- int8

def quantize_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic quantization of every MatMul with a constant 2-D weight, in the same
    form as onnxruntime's `quantize_dynamic` (IntegerOps, per-tensor symmetric
    int8 weights, uint8 activations quantized at run time):
        DynamicQuantizeLinear(A) -> MatMulInteger -> Cast(float) -> Mul(scale_a * scale_w).
    Embedding tables (Gather data) are stored as int8 and dequantized in-graph
    (onnxruntime folds that at load); the tied output projection then uses the
    dequantized table in a float MatMul. The decoder's position table and the convs
    stay float32."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {t.name: t for t in g.initializer}
    quantized: dict[str, tuple[str, str, str]] = {}
    nodes = []
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == "MatMul" else None
        if w is None or w.data_type != TensorProto.FLOAT or len(w.dims) != 2:
            nodes.append(node)
            continue
        if w.name not in quantized:
            quantized[w.name] = _quantize_weight(g, w)
        wq, w_scale, w_zp = quantized[w.name]
        a, y, p = node.input[0], node.output[0], node.name or node.output[0]
        nodes += [
            helper.make_node("DynamicQuantizeLinear", [a], [f"{p}/a_q", f"{p}/a_scale", f"{p}/a_zp"], name=f"{p}/quant"),
            helper.make_node("MatMulInteger", [f"{p}/a_q", wq, f"{p}/a_zp", w_zp], [f"{p}/int32"], name=f"{p}/matmul_int"),
            helper.make_node("Cast", [f"{p}/int32"], [f"{p}/float"], name=f"{p}/cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}/a_scale", w_scale], [f"{p}/scale"], name=f"{p}/scale"),
            helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], [y], name=f"{p}/dequant"),
        ]
    nodes = _dequantized_embeddings(g, inits, nodes) + nodes
    del g.node[:]
    g.node.extend(nodes)
    still_used = {i for n in g.node for i in n.input}
    for name in quantized:
        if name not in still_used:
            g.initializer.remove(inits[name])
    onnx.checker.check_model(out)
    return out


def _dequantized_embeddings(g: onnx.GraphProto, inits: dict, nodes: list) -> list:
    """Replaces each float embedding table by int8 storage + DequantizeLinear
    producing the old name, so all consumers (Gather, Transpose) stay unchanged.
    The decoder's position table stays float: optimum's graphs slice it (no Gather,
    so float there), and the `positions` graphs, which Gather it by position_ids,
    should compute the same values."""
    tables = {n.input[0] for n in nodes if n.op_type == "Gather" and n.input[0] in inits
              and "embed_positions" not in n.input[0]}
    new_nodes = []
    for name in sorted(tables):
        t = inits[name]
        if t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            continue
        q, scale, zp = _quantize_weight(g, t)
        g.initializer.remove(t)
        new_nodes.append(helper.make_node("DequantizeLinear", [q, scale, zp], [name], name=f"{name}/dequant"))
    return new_nodes


def _quantize_weight(g: onnx.GraphProto, w: TensorProto) -> tuple[str, str, str]:
    arr = numpy_helper.to_array(w)
    scale = float(np.abs(arr).max()) / 127.0 or 1.0
    q = np.clip(np.round(arr / scale), -127, 127).astype(np.int8)
    names = (f"{w.name}_quantized", f"{w.name}_scale", f"{w.name}_zero_point")
    g.initializer.extend([numpy_helper.from_array(q, names[0]),
                          numpy_helper.from_array(np.array(scale, dtype=np.float32), names[1]),
                          numpy_helper.from_array(np.array(0, dtype=np.int8), names[2])])
    return names
