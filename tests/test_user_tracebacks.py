"""A user's error raised inside a traced model shows the frames it shows
untraced: the recorder's hooks send each module call through PyTorch's hook
path (``Module._call_impl``'s ``inner()``), a frame python would not show,
unless the module has a hook of the user's own, where python shows it too."""

import traceback

import pytest
import torch
from torch import nn

import shapetrace


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(5, 4), nn.ReLU())
        self.fc = nn.Linear(3, 2)  # expects 3 features, gets 4

    def forward(self, x):
        return self.fc(self.block(x))


def _frames(run) -> list[tuple[str, str]]:
    """The error's frames from the model's call in: (file, function)."""
    with pytest.raises(RuntimeError) as raised:
        run()
    frames = [(frame.filename, frame.name) for frame in traceback.extract_tb(raised.value.__traceback__)]
    return frames[[name for _, name in frames].index("_wrapped_call_impl") :]


def _traced(model, x):
    def run():
        with shapetrace.trace(model):
            model(x)

    return run


@pytest.mark.parametrize("ops", [True, False])
def test_the_frames_of_an_error_in_a_traced_model_are_those_of_the_untraced_one(ops):
    model, x = Outer(), torch.randn(2, 5)
    plain = _frames(lambda: model(x))
    with_trace = _frames(lambda: _run_traced(model, x, ops))
    assert [name for _, name in with_trace if name == "inner"] == []
    assert with_trace == plain
    assert [name for _, name in plain].count("_call_impl") == 2  # Outer, then fc


def _run_traced(model, x, ops):
    with shapetrace.trace(model, ops=ops):
        model(x)


def test_a_module_with_a_hook_of_the_users_keeps_the_hook_paths_frame_as_untraced():
    model, x = Outer(), torch.randn(2, 5)
    handle = model.fc.register_forward_hook(lambda module, args, out: None)
    try:
        plain = _frames(lambda: model(x))
        with_trace = _frames(_traced(model, x))
    finally:
        handle.remove()
    assert [name for _, name in plain].count("inner") == 1  # fc's, under python too
    assert with_trace == plain


class _Splits(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)

    def forward(self, x):
        first, second = self.fc(x).split([3, 4], dim=1)  # 3 + 4 is not 8
        return first, second


def test_an_error_in_a_python_level_tensor_method_shows_it_once_as_untraced():
    # Tensor.split is Python: under the op mode it runs through handle_torch_function
    # and then again; the traceback shows it once, as python does.
    model, x = _Splits(), torch.randn(2, 4)
    plain = _frames(lambda: model(x))
    with_trace = _frames(_traced(model, x))
    assert [name for _, name in plain][-1] == "split"
    assert with_trace == plain
    assert all(name != "handle_torch_function" for _, name in with_trace)
