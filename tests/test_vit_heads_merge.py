"""A ViT's heads merged back by ``reshape(B, N, C)`` without moving them next to head_dim
(ST012), where the tokens N are a grid of patches that ``flatten(2)`` merged into one dim.

- ``q, k, v = qkv`` unpacks through ``Tensor.__iter__``, which skips torch function
  dispatch and runs ``unbind(0)`` (torch/_tensor.py): that unbind is recorded at the user's
  line, so the pieces keep their axes' lineage.
- N == head_dim and batch == heads: the view only merges axes that are neighbours in memory
  (heads with the patch rows), and only the name the forward gave N tells it (variant st012_x).
- The help moves whole dims (``out.transpose(1, 2)``), not the patch grid's rows and columns
  apart (variant st012_y).
"""

from __future__ import annotations

import torch
from torch import nn

import shapetrace
from shapetrace.analyze.lineage.flow import trace_lineage
from tests.case_support import VARIANTS, load_file, serious, traced_module


class Unpacked(nn.Module):
    def forward(self, qkv):
        q, k, v = qkv
        return q + k + v


def test_unpacking_a_tensor_records_its_unbind_at_the_users_line():
    model = Unpacked()
    with shapetrace.trace(model) as t:
        model(torch.randn(3, 2, 5))
    [unbind] = [call for call in t.calls if call.kind == "op" and call.name == "unbind"]
    assert unbind.location.code == "q, k, v = qkv" and len(unbind.outputs) == 3
    flow = trace_lineage(t)
    [add] = [call for call in t.calls if call.kind == "op" and call.name == "add"][:1]
    # q's dims are qkv's dims 1 and 2, not fresh axes
    assert flow.input_lineage(add, 0) == flow.input_lineage(model_call(t), 0)[1:]


def model_call(t: shapetrace.Trace):
    return next(call for call in t.calls if call.kind == "module")


def test_heads_merged_into_a_patch_grid_of_equal_sizes_are_told_by_the_name_of_n():
    name = "st012_x_vit_heads_merged_by_reshape_tokens_equal_head_dim"
    [found] = serious(traced_module(load_file(VARIANTS / f"{name}.py")))
    assert found.code == "ST012"
    assert "its dim 1 is written N, the name forward gave an axis of its input, which out holds as dim 2" in (
        found.message
    )
    assert found.hint == "use out.transpose(1, 2).reshape(B, N, C)"


def test_the_help_moves_the_grid_of_patches_as_one_dim():
    name = "st012_y_vit_heads_merged_by_reshape_patch_grid"
    [found] = serious(traced_module(load_file(VARIANTS / f"{name}.py")))
    assert found.code == "ST012" and "the 25 cuts across" in found.message
    assert found.hint == "use out.transpose(1, 2).reshape(B, N, C)"


class RowLoop(nn.Module):
    def forward(self, x):
        return torch.stack([row * 2 for row in x])


def test_iterating_many_rows_is_not_recorded_as_an_unbind():
    """``for row in x`` over more than 64 rows (a dataset's, a long sequence's) is torch's own
    iteration, as before: one op per row would cost the trace more than the forward."""
    model = RowLoop()
    for rows, recorded in ((8, 1), (200, 0)):
        with shapetrace.trace(model) as t:
            model(torch.randn(rows, 3))
        assert len([call for call in t.calls if call.name == "unbind"]) == recorded
