"""ST001 on attention models, and ST017 (a positional table along the batch).

``nn.MultiheadAttention``, ``nn.TransformerEncoder(Layer)``, ``nn.TransformerDecoder`` and
``nn.Transformer`` take ``batch_first`` (default False). The variants are in
tests/models/attention_layout_models.py (and four re-written public reports in
tests/cases/variants/st001_[f-i]*, st017_a*); through ``shapetrace.trace(model)`` and
``shapetrace run --fail-on warning``: the buggy version gets ST001 on the line calling the
layer, the fixed one (``batch_first=True``) nothing; correct models in either layout
nothing; each help is applied (the flag where the layer is built, then each follow-up)
and the model then computes what the fixed version does, with no finding left.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._pytree import tree_leaves

import shapetrace
from tests.case_support import CASES, load_file, model_outputs, run_script, serious, traced_module
from tests.models import attention_layout_models as variants
from tests.test_batch_first import _replace

pytestmark = pytest.mark.filterwarnings("ignore")
SCRIPT = Path(variants.__file__)
PUBLIC = sorted((CASES / "variants").glob("st001_[f-i]_*.py"))


def traced_variant(name: str, fixed: bool = False) -> shapetrace.Trace:
    model, work = variants.make(name, fixed)
    try:
        with shapetrace.trace(model) as t:
            work()
    except Exception:  # the trace keeps it
        pass
    return t


def run_variant(name: str, fixed: bool = False) -> tuple[int, shapetrace.Trace, str]:
    done = run_script(SCRIPT, name, *(["--fixed"] if fixed else []))
    return done.exit_code, done.trace, done.output


def layer_lines() -> set[int]:
    """The lines calling an attention layer in the variants' forwards."""
    source = SCRIPT.read_text().splitlines()
    calls = ("self.encoder(", "self.attn(", "self.transformer(")
    return {n for n, line in enumerate(source, 1) if any(call in line for call in calls)}


def st001(trace: shapetrace.Trace, severity: tuple[str, ...] = ("warning", "error")) -> list:
    return [f for f in trace.findings if f.code == "ST001" and f.severity in severity
            and f.location is not None and f.location.lineno in layer_lines()]


@pytest.mark.parametrize("name", variants.BUGGY)
def test_buggy_variant_is_found_through_the_api_and_the_command(name):
    t = traced_variant(name)
    assert t.error is None and st001(t), [(f.code, f.message) for f in t.findings]
    code, trace, output = run_variant(name)
    assert code == 1 and st001(trace), output


@pytest.mark.parametrize("name", variants.RAISING)
def test_the_note_of_a_raising_variant_names_the_layout(name):
    """PyTorch raises (a key padding mask of the other layout, a causal mask of the other
    length, src and tgt batches that differ) and says nothing of batch_first: the note does."""
    t = traced_variant(name)
    assert t.error is not None and st001(t, ("error",)), [(f.code, f.message) for f in t.findings]
    note = t.error.__notes__[0]
    explained = note.split("explained by:")[1]
    assert "ST001 batch-first-mismatch" in explained and "batch_first=True" in explained, note


@pytest.mark.parametrize("name", variants.BUGGY + variants.RAISING + variants.UNDECIDED + variants.TABLE_ON_BATCH)
def test_fixed_variant_is_clean(name):
    t = traced_variant(name, fixed=True)
    assert t.error is None and serious(t) == [], [(f.code, f.message) for f in t.findings]
    code, trace, output = run_variant(name, fixed=True)
    assert code == 0 and serious(trace) == [], output


@pytest.mark.parametrize("name", variants.CORRECT)
def test_correct_models_in_either_layout_are_clean(name):
    """The PyTorch tutorial's seq-first LM (batchified (T, B), a short last chunk of bptt
    steps, its seq-first PositionalEncoding), seq-first encoders fed ``tokens.t()`` with a
    (B, S) mask, nn.Transformer in both layouts with every mask, a per-sample label
    embedding beside a positional table."""
    t = traced_variant(name)
    assert t.error is None and serious(t) == [], [(f.code, f.message) for f in t.findings]
    if "equal_sizes" not in name and "label_only" not in name:
        assert t.findings == [], [(f.code, f.message) for f in t.findings]
    code, trace, output = run_variant(name)
    assert code == 0 and serious(trace) == [], output


def test_equal_sizes_with_a_mask_are_decided_by_the_mask():
    """Batch and sequence both 6: a key padding mask built from the (B, S) tokens is (N, S)
    in both layouts, so its dim 0 tells the batch whatever the sizes."""
    for name in ("cls_mask_equal_sizes", "mha_mask_equal_sizes"):
        [found] = st001(traced_variant(name), ("error",))
        assert "is (N, S) in both layouts, and its dim 0 (N) is by lineage the axis" in found.message


def test_equal_sizes_and_only_an_index_give_no_confident_advice():
    """Batch and sequence both 6, a seq-first encoder, ``h[:, 0]`` after it: either the data
    is batch-first (the flag is wrong) or the index is (``h[0]`` was meant). ST001 says so as
    info; ST013 names the index with both fixes."""
    t = traced_variant("cls_equal_sizes")
    assert [f.severity for f in t.findings if f.code == "ST001"] == ["info"]
    [index] = [f for f in t.findings if f.code == "ST013"]
    assert index.severity == "warning" and index.message.startswith("h[:, 0] at line")
    assert index.hint.startswith("use h[0, :]: if self.emb(tokens) is (sequence, batch, ...) as encoder takes it; ")
    assert index.hint.endswith("if it is batch-first, build the layers encoder stacks with "
                               "nn.TransformerEncoderLayer(..., batch_first=True) instead")


def test_equal_sizes_and_an_index_on_a_batch_first_layer_name_the_layouts_right_way_round():
    """The other flag: a batch_first GRU read with ``output[-1]`` (batch == time, no DataLoader):
    the flag is wrong only if the data is seq-first, and the help flips it to False then."""

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.fc = nn.GRU(3, 8, batch_first=True), nn.Linear(8, 2)

        def forward(self, x):
            output, _ = self.gru(x)
            return self.fc(output[-1])

    model = Tagger()
    with shapetrace.trace(model) as t:
        nn.functional.cross_entropy(model(torch.randn(6, 6, 3)), torch.randint(0, 2, (6,)))
    [layout] = [f for f in t.findings if f.code == "ST001"]
    assert layout.severity == "info" and "cannot tell whether the data is seq-first" in layout.message
    assert layout.hint.startswith("build it with nn.GRU(..., batch_first=False) if the data is seq-first; ")
    [index] = [f for f in t.findings if f.code == "ST013"]
    assert index.hint == (
        "use output[:, -1]: if x is (batch, time, ...) as gru takes it; if it is seq-first, "
        "build gru with nn.GRU(..., batch_first=False) instead"
    )


def test_the_flag_of_a_transformer_layer_is_recorded_on_the_fast_path():
    """In eval under no_grad the layers take their fused path and never call ``self_attn``:
    the recorder copies its batch_first into the layer's config."""
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2).eval()
    with torch.no_grad(), shapetrace.trace(encoder) as t:
        encoder(torch.randn(3, 5, 16))
    assert [c.config.get("batch_first") for c in t.calls if c.kind == "module"] == [True, True, True]
    assert [c.type for c in t.calls if c.kind == "module"] == ["TransformerEncoder", *["TransformerEncoderLayer"] * 2]


# ------------------------------------------------------------------ the help, applied
def apply_flag_help(path: Path, found) -> str:
    """The source of ``path`` edited as ST001's help says: ``batch_first=True`` where the
    named module is built (the nearest ``nn.TYPE(`` above the finding, in its class), then
    each ``then use NEW in place of OLD at line N``."""
    lines = path.read_text().splitlines()
    first, *rest = found.hint.split("; ")
    flag = re.fullmatch(r"build it with nn\.(\w+)\(\.\.\., batch_first=(True|False)\)(?: \(.*\))?", first)
    assert flag, found.hint
    built = max(n for n, line in enumerate(lines[:found.location.lineno]) if f"nn.{flag.group(1)}(" in line)
    assert "batch_first=" in lines[built], lines[built]
    lines[built] = re.sub(r"batch_first=[^,)]+", f"batch_first={flag.group(2)}", lines[built])
    for part in rest:
        edit = re.fullmatch(r"then use (.+) in place of (.+?) at line (\d+)(?: \(.*\))?", part)
        assert edit, part
        number = int(edit.group(3)) - 1
        lines[number] = _replace(lines[number], edit.group(2), edit.group(1))
    return "\n".join(lines) + "\n"


def _same(got, want):
    assert len(got) == len(want) > 0
    for a, b in zip(got, want):
        leaves_a, leaves_b = tree_leaves(a), tree_leaves(b)
        assert [x.shape for x in leaves_a] == [x.shape for x in leaves_b]
        for x, y in zip(leaves_a, leaves_b):
            torch.testing.assert_close(x, y)


def _outputs(module, name: str, fixed: bool) -> list:
    model, work = module.make(name, fixed)
    outputs: list = []
    handle = model.register_forward_hook(lambda _module, _args, out: outputs.append(out))
    try:
        work()
    finally:
        handle.remove()
    return outputs


@pytest.mark.parametrize("name", variants.BUGGY + variants.RAISING)
def test_applied_help_gives_the_fixed_model(name, tmp_path):
    """The flag (on the layer a TransformerEncoder stacks, for one); for the tutorial's
    seq-first table before the encoder, the table moved too (``self.pe[:x.size(1)].transpose(0, 1)``)."""
    [found] = st001(traced_variant(name))
    patched = tmp_path / "helped_attention_models.py"
    patched.write_text(apply_flag_help(SCRIPT, found))
    module = load_file(patched)
    _same(_outputs(module, name, False), _outputs(variants, name, True))
    model, work = module.make(name, False)
    with shapetrace.trace(model) as t:
        work()
    assert serious(t) == [], found.hint


@pytest.mark.parametrize("path", PUBLIC, ids=lambda p: p.stem)
def test_applied_help_fixes_the_public_report(path, tmp_path):
    t = traced_module(load_file(path, f"tests.cases.variants.{path.stem}"))
    [found] = [f for f in serious(t) if f.code == "ST001"]
    patched = tmp_path / f"helped_{path.name}"
    patched.write_text(apply_flag_help(path, found))
    rewritten = load_file(patched, f"helped_{path.stem}")
    _same(model_outputs(rewritten), model_outputs(load_file(path, f"again_{path.stem}"), fixed=True))
    assert serious(traced_module(rewritten)) == [], found.hint


# ------------------------------------------------------------------ ST017
@pytest.mark.parametrize("name", variants.TABLE_ON_BATCH)
def test_a_positional_table_along_the_batch_is_st017_and_its_help_fixes_it(name, tmp_path):
    """The tutorial's ``x + self.pe[:x.size(0)]`` before a batch_first encoder: the table
    is cut to the batch and broadcast over the sequence (batch and sequence equal or not)."""
    t = traced_variant(name)
    [found] = [f for f in serious(t) if f.code == "ST017"]
    assert not [f for f in serious(t) if f.code == "ST001"]
    assert found.message.startswith("self.pe[:x.size(0)] at line")
    assert "the batch axis of encoder (TransformerEncoder, batch_first=True)" in found.message
    assert found.hint.startswith("use self.pe[:x.size(1)].transpose(0, 1): ")
    lines = SCRIPT.read_text().splitlines()
    number = found.location.lineno - 1
    lines[number] = _replace(lines[number], "self.pe[:x.size(0)]", "self.pe[:x.size(1)].transpose(0, 1)")
    patched = tmp_path / "helped_table.py"
    patched.write_text("\n".join(lines) + "\n")
    module = load_file(patched)
    _same(_outputs(module, name, False), _outputs(variants, name, True))
    model, work = module.make(name, False)
    with shapetrace.trace(model) as helped:
        work()
    assert serious(helped) == []
    code, trace, output = run_variant(name)
    assert code == 1 and [f for f in trace.findings if f.code == "ST017"], output


def test_a_per_sample_embedding_beside_the_encoder_is_no_table():
    """``x + self.label_emb(labels).unsqueeze(1)`` is (B, 1, E) too, but its rows come
    from the data (one label per sample): a conditioning, not positions."""
    t = traced_variant("positional_label_only")
    assert [f for f in t.findings if f.code == "ST017"] == []


def test_a_batch_first_table_before_an_encoder_left_seq_first_is_st001_alone():
    """A learned (1, T, E) positional table added to batch-first embeddings before a
    TransformerEncoder left at batch_first=False: the table is right for the data and the
    layer's flag is wrong. ST001 says so; ST017 (the table along the layer's batch axis)
    would move the table to dim 0, wrong once the flag is fixed: no ST017."""
    import torch
    from torch import nn

    import shapetrace

    class EventClassifier(nn.Module):
        def __init__(self, batch_first: bool) -> None:
            super().__init__()
            self.emb = nn.Embedding(90, 32)
            self.pos = nn.Parameter(torch.zeros(1, 12, 32))
            layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=batch_first)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(32, 3)

        def forward(self, tokens):
            return self.head(self.encoder(self.emb(tokens) + self.pos).mean(dim=1))

    for batch_first in (False, True):
        torch.manual_seed(0)
        model = EventClassifier(batch_first)
        with shapetrace.trace(model) as t:
            torch.nn.functional.cross_entropy(model(torch.randint(0, 90, (16, 12))), torch.randint(0, 3, (16,)))
        serious = [f.code for f in t.findings if f.severity != "info"]
        assert serious == ([] if batch_first else ["ST001"]), t.findings


@pytest.mark.parametrize(
    ("spelling", "hint"),
    [
        ("tile", "use mask.repeat_interleave(self.heads, dim=0)"),
        ("cat", "repeat each sample's mask once per head in a row: mask.repeat_interleave(2, dim=0)"),
        ("interleave", None),
    ],
)
def test_a_mask_copied_per_head_by_tile_or_cat_is_st025(spelling, hint):
    """``mask.tile(H, 1, 1)`` and ``torch.cat([mask] * H)`` copy the batch head-major as
    ``repeat`` does (lineage: an axis of copies); ``repeat_interleave`` is what
    MultiheadAttention reads."""
    import torch
    from torch import nn

    import shapetrace

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.heads = 2
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, lengths):
            steps = torch.arange(x.size(1))
            mask = (steps[None, None, :] >= lengths[:, None, None]).expand(-1, x.size(1), -1)
            if spelling == "tile":
                per_head = mask.tile(self.heads, 1, 1)
            elif spelling == "cat":
                per_head = torch.cat([mask] * self.heads, dim=0)
            else:
                per_head = mask.repeat_interleave(self.heads, dim=0)
            return self.mha(x, x, x, attn_mask=per_head, need_weights=False)[0]

    torch.manual_seed(0)
    model = Padded()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 6, 8), torch.tensor([6, 2, 4, 5]))
    found = [f for f in t.findings if f.code == "ST025"]
    assert [f.hint for f in found] == ([hint] if hint else [])


@pytest.mark.parametrize("interleave", [False, True])
def test_a_per_head_mask_given_to_a_transformer_encoder_is_checked_at_the_encoder(interleave):
    """nn.TransformerEncoder(Layer) makes a bool mask float before its MultiheadAttention
    sees it (no lineage inside): ST025 reads the encoder's own ``mask`` input, with the
    heads of the attention inside."""
    import torch
    from torch import nn

    import shapetrace

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

        def forward(self, x, lengths):
            steps = torch.arange(x.size(1))
            mask = (steps[None, None, :] >= lengths[:, None, None]).expand(-1, x.size(1), -1)
            per_head = mask.repeat_interleave(2, dim=0) if interleave else mask.repeat(2, 1, 1)
            return self.encoder(x, mask=per_head)

    torch.manual_seed(0)
    model = Encoder()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 5, 16), torch.tensor([5, 2, 4]))
    found = [f for f in t.findings if f.code == "ST025"]
    if interleave:
        assert found == []
    else:
        (one,) = found
        assert "encoder (TransformerEncoder)" in one.message and one.hint == "use mask.repeat_interleave(2, dim=0)"


@pytest.mark.parametrize("copies", ["repeat", "repeat_interleave"])
def test_heads_folded_head_major_take_the_mask_copied_head_major(copies):
    """Scores folded head-major by ``torch.cat(q.split(d, -1), 0)`` (row h * B + b) read a
    mask copied whole once per head (``repeat``) right, and one whose copies are interleaved
    (row b * H + h) wrong: ST025 the other way round, with batch 3 != heads 2, and the
    ``repeat`` the help gives is clean."""
    import torch
    from torch import nn

    import shapetrace

    class SplitCat(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qk = nn.Linear(8, 16)

        def forward(self, x, pad):
            q, k = self.qk(x).chunk(2, dim=-1)
            q, k = torch.cat(q.split(4, dim=-1), dim=0), torch.cat(k.split(4, dim=-1), dim=0)
            mask = pad[:, None, :].expand(-1, x.size(1), -1)
            mask = mask.repeat(2, 1, 1) if copies == "repeat" else mask.repeat_interleave(2, dim=0)
            return torch.bmm(q, k.transpose(1, 2)).masked_fill(mask, float("-inf")).softmax(-1)

    pad = torch.arange(5)[None, :] >= torch.tensor([5, 2, 4])[:, None]
    model = SplitCat()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 5, 8), pad)
    found = [f for f in t.findings if f.code == "ST025"]
    if copies == "repeat":
        assert found == []
    else:
        assert [f.hint for f in found] == ["use mask.repeat(2, 1, 1)"]
        assert "whose dim 0 is head-major (row h * B + b)" in found[0].message


@pytest.mark.parametrize(
    ("layout", "found"),
    [("sdpa", True), ("scores", True), ("sdpa transposed", False), ("scores permuted", False)],
)
def test_attention_over_the_heads_is_st026_whether_sdpa_or_hand_written(layout, found):
    """q, k, v viewed (B, T, heads, head_dim) and attended as they are, by SDPA or by
    ``q @ k.transpose(-2, -1)``, attend over the heads (ST026, heads == tokens == 4 here);
    transposed or permuted to (B, heads, T, head_dim) first, they are right."""
    import math

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.out = nn.Linear(16, 48), nn.Linear(16, 16)

        def forward(self, x):
            b, t, e = x.shape
            q, k, v = (part.view(b, t, 4, 4) for part in self.qkv(x).chunk(3, dim=-1))
            if layout.endswith(("transposed", "permuted")):
                q, k, v = (part.permute(0, 2, 1, 3) for part in (q, k, v))
            if layout.startswith("sdpa"):
                y = F.scaled_dot_product_attention(q, k, v)
            else:
                scores = q @ k.transpose(-2, -1)
                y = (scores / math.sqrt(4)).softmax(-1) @ v
            if layout.endswith(("transposed", "permuted")):
                y = y.transpose(1, 2)
            return self.out(y.reshape(b, t, e))

    import torch.nn.functional as F

    model = Heads()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 4, 16))
    st026 = [f for f in t.findings if f.code == "ST026"]
    assert [f.severity for f in t.findings if f.severity != "info"] == (["error"] if found else [])
    if found:
        assert "attends over dim 2 of its query (2, 4, 4, 4), 4 pieces split off one axis of qkv" in st026[0].message
        # the op as written: the operator, not the method it runs (Tensor.matmul)
        written = "F.scaled_dot_product_attention" if layout == "sdpa" else "q @ k.transpose(-2, -1)"
        assert st026[0].message.startswith(f"{written} at line "), st026[0].message


def test_grouped_query_decoding_with_the_group_in_the_query_rows_is_not_st026():
    """One decoding step of grouped-query attention packs each key/value head's group of
    query heads into the query's rows, (B, kv_heads, heads per group, head_dim), as
    transformers' SDPA path does on a padded batch: the rows are independent queries and
    each attends over the cached tokens in the key's dim -2, so it equals the reference
    that repeats the keys per head. Only a key whose dim -2 is heads too attends over them."""
    import torch.nn.functional as F

    batch, heads, kv_heads, head_dim, cached = 3, 6, 2, 8, 10

    class Decode(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q_proj = nn.Linear(heads * head_dim, heads * head_dim)

        def forward(self, x, k, v):
            q = self.q_proj(x).view(batch, 1, heads, head_dim).transpose(1, 2)
            packed = q.reshape(batch, kv_heads, heads // kv_heads, head_dim)
            out = F.scaled_dot_product_attention(packed, k, v)
            return out.reshape(batch, heads, 1, head_dim), q

    torch.manual_seed(0)
    model = Decode()
    x, k, v = torch.randn(batch, 1, heads * head_dim), *torch.randn(2, batch, kv_heads, cached, head_dim)
    with shapetrace.trace(model) as t:
        out, q = model(x, k, v)
    assert [f for f in t.findings if f.severity != "info"] == [], t.findings
    group = heads // kv_heads
    reference = F.scaled_dot_product_attention(q, k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
    assert torch.allclose(out, reference, atol=1e-6)


@pytest.mark.parametrize("holder", ["MultiheadAttention", "TransformerEncoderLayer"])
def test_a_per_sample_3d_mask_where_one_per_head_is_taken_is_explained(holder):
    """A (N, L, S) mask given as a 3-D attn_mask/src_mask, which PyTorch takes as
    (N * num_heads, L, S): it raises, and the note's ST025 gives the batch-major copies
    (``repeat_interleave``), which, applied, run with no finding."""

    class Masked(nn.Module):
        def __init__(self, per_head: bool) -> None:
            super().__init__()
            self.per_head = per_head
            if holder == "MultiheadAttention":
                self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
            else:
                self.attn = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)

        def forward(self, x, pad):
            blocked = pad[:, None, :].expand(-1, x.size(1), -1)  # (N, L, S)
            if self.per_head:
                blocked = blocked.repeat_interleave(4, dim=0)
            if holder == "MultiheadAttention":
                return self.attn(x, x, x, attn_mask=blocked, need_weights=False)[0]
            return self.attn(x, src_mask=blocked)

    x, pad = torch.randn(3, 5, 16), torch.arange(5)[None, :] >= torch.tensor([5, 2, 4])[:, None]
    model = Masked(per_head=False)
    with pytest.raises(RuntimeError) as raised, shapetrace.trace(model):
        model(x, pad)
    note = "\n".join(raised.value.__notes__)
    name = "attn_mask" if holder == "MultiheadAttention" else "src_mask"
    assert f"is given a per-sample {name} (3, 5, 5), one (L, S) mask per sample" in note
    assert "help: use blocked.repeat_interleave(4, dim=0)" in note
    helped = Masked(per_head=True)
    with shapetrace.trace(helped) as t:
        helped(x, pad)
    assert [f for f in t.findings if f.severity != "info"] == []


@pytest.mark.parametrize(
    ("tokens", "found"),
    [
        ("x.reshape(b, -1, 16)", True),  # the channels as tokens (16 positions == 16 channels)
        ("x.flatten(2).transpose(1, 2)", False),  # (B, positions, channels): right
        ("x.view(b, 16, -1).transpose(1, 2)", False),  # (B, C, N) then transposed: right
    ],
)
def test_a_conv_map_reshaped_to_tokens_without_the_transpose_is_st002(tokens, found):
    """A patch embedding's (B, 16, 4, 4) map made tokens for an encoder: reshaped to
    (B, -1, 16), the encoder reads the 16 positions as features (ST002, help the
    flatten and transpose); the right layouts are clean."""

    class Patches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(3, 16, 4, stride=4)
            self.encoder = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

        def forward(self, images):
            x = self.proj(images)
            b = x.size(0)
            return self.encoder(eval(tokens, {"x": x, "b": b}))

    model = Patches()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3, 16, 16))
    st002 = [f for f in t.findings if f.code == "ST002"]
    assert [f for f in t.findings if f.severity != "info"] == st002
    assert len(st002) == found
    if found:
        assert "tokens whose dim 1 is its 16 channels and whose last dim its 4 × 4 positions" in st002[0].message
        assert st002[0].hint == "use x.flatten(2).transpose(1, 2)"


def test_token_mixing_over_positions_is_no_patch_token_mixup():
    """An MLP-Mixer's token mixing reads the positions as features on purpose: a conv map
    viewed (B, C, -1) into a Linear over the positions gets no finding."""

    class Mixer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 4, stride=4)
            self.token_mix = nn.Linear(16, 16)
            self.norm = nn.LayerNorm(16)

        def forward(self, images):
            x = self.stem(images)
            x = self.token_mix(x.view(x.size(0), 16, -1))  # (B, C, N): mixes the N positions
            return self.norm(x.transpose(1, 2))

    model = Mixer()
    with shapetrace.trace(model) as t:
        model(torch.randn(2, 3, 16, 16))
    assert [f for f in t.findings if f.severity != "info"] == []


def test_a_per_head_bias_repeated_per_sample_is_not_st025():
    """An ALiBi-style (H, L, S) bias, one per head and the same for every sample, repeated
    B times is batch-major (row b * H + h = bias[h]), as MultiheadAttention reads it: no
    ST025 even with batch == heads == 4 (its axis is made in the forward, not a sample's)."""

    class Alibi(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            b, t, _ = x.shape
            slopes = torch.tensor([2.0 ** (-2 * (h + 1)) for h in range(4)])
            distance = (torch.arange(t)[None, :] - torch.arange(t)[:, None]).abs().float()
            bias = (-slopes[:, None, None] * distance).repeat(b, 1, 1)  # (B * H, T, T)
            return self.mha(x, x, x, attn_mask=bias, need_weights=False)[0]

    model = Alibi()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 4, 16))
    assert [f for f in t.findings if f.code == "ST025"] == []


@pytest.mark.parametrize(
    ("extend", "hint"),
    [
        ("keep[:, None, :, None]", "use keep[:, None, None, :]: its keys in the last dim, (B, 1, 1, S)"),
        ("keep.unsqueeze(1).unsqueeze(3)", "use keep[:, None, None, :]: its keys in the last dim, (B, 1, 1, S)"),
        ("keep[:, None, None, :]", None),
        ("keep.unsqueeze(1).unsqueeze(2)", None),
    ],
)
def test_a_padding_mask_laid_along_the_queries_is_st028(extend, hint):
    """(B, 1, T, 1) added to (B, H, T, T) scores is a constant per query row, which the
    softmax over the keys cancels (ST028, placed at the op that made it 4-D, by index or by
    an unsqueeze chain); (B, 1, 1, T) masks the keys."""
    import math

    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qk = nn.Linear(16, 32)

        def forward(self, x, keep):
            b, t, _ = x.shape
            q, k = (p.view(b, t, 2, 8).transpose(1, 2) for p in self.qk(x).chunk(2, -1))
            if extend == "keep[:, None, :, None]":
                ext = keep[:, None, :, None]
            elif extend == "keep.unsqueeze(1).unsqueeze(3)":
                ext = keep.unsqueeze(1).unsqueeze(3)
            elif extend == "keep[:, None, None, :]":
                ext = keep[:, None, None, :]
            else:
                ext = keep.unsqueeze(1).unsqueeze(2)
            ext = (1.0 - ext.float()) * -10000.0
            return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8) + ext, dim=-1)

    model = Masked()
    keep = torch.arange(6)[None, :] < torch.tensor([6, 3, 5])[:, None]
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 6, 16), keep)
    found = [f for f in t.findings if f.code == "ST028"]
    assert [f.hint for f in found] == ([hint] if hint else [])


class _PaddedEncoder(nn.Module):
    """An encoder given a key padding mask beside its tokens, in either layout."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.embed = nn.Embedding(20, 8, padding_idx=0)
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)

    def forward(self, tokens, padding):
        x = self.embed(tokens if self.batch_first else tokens.t())
        return self.encoder(x, src_key_padding_mask=padding).sum()


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("recipe", ["from lengths", "from tokens"])
def test_key_padding_masks_made_right_from_a_loaders_batch_are_clean(batch_first, recipe):
    """ST029 tells a (S, N) key padding mask by the DataLoader's batch on its dim 1
    (tests/cases/variants/st029_b_*); a mask built (N, S) from the same batch, the lengths
    or the tokens, for a layer in either layout, has the batch on dim 0: no finding."""
    torch.manual_seed(0)
    lengths = torch.tensor([5, 2, 5, 3, 5, 1, 5, 4, 5, 5])
    tokens = torch.randint(1, 20, (10, 5)) * (torch.arange(5)[None, :] < lengths[:, None])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tokens, lengths), batch_size=5)
    model = _PaddedEncoder(batch_first)
    with shapetrace.trace(model) as t:
        for batch, lens in loader:
            from_lengths = torch.arange(batch.size(1))[None, :] >= lens[:, None]
            padding = from_lengths if recipe == "from lengths" else batch == 0
            model(batch, padding).backward()
    assert t.error is None and t.run_info.get("loader_tensors")
    assert [f for f in t.findings if f.severity != "info"] == [], t.findings
