"""Tensors held by plain objects (torchvision's ``ImageList``, torchinfo's
``highly_nested_dict_model`` fixture) are recorded with their paths, a bounded
depth; modules, private attributes and cycles are not followed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import shapetrace
from shapetrace.core.tensor_meta import collect_metas


class ImageList:
    """torchvision.models.detection.image_list.ImageList, as it is written there."""

    def __init__(self, tensors: torch.Tensor, image_sizes: list[tuple[int, int]]) -> None:
        self.tensors = tensors
        self.image_sizes = image_sizes

    def to(self, device: torch.device) -> ImageList:
        return ImageList(self.tensors.to(device), self.image_sizes)


class DetectionTransform(nn.Module):
    """Like GeneralizedRCNNTransform: resize a list of images into one padded batch."""

    def forward(self, images: list[torch.Tensor], targets=None):
        sizes = [tuple(image.shape[-2:]) for image in images]
        resized = [F.interpolate(image[None], size=(32, 40), mode="bilinear")[0] for image in images]
        return ImageList(torch.stack(resized), sizes), targets


class Detector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transform = DetectionTransform()
        self.backbone = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, images):
        image_list, _ = self.transform(images)
        return self.backbone(image_list.tensors)


class ObjectWithTensors:
    def __init__(self, tensors) -> None:
        self.tensors = tensors


class HighlyNestedDictModel(nn.Module):
    """torchinfo's fixture: returns a dict of a tuple of a dict of a list of an object."""

    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(10, 10)
        self.lin2 = nn.Linear(10, 10)

    def forward(self, x):
        x = self.lin2(self.lin1(x))
        x = F.softmax(x, dim=0)
        return {"foo": ({"bar": [ObjectWithTensors(x)]},)}


def test_the_resized_batch_of_an_image_list_is_recorded() -> None:
    model = Detector()
    images = [torch.randn(3, 20, 30), torch.randn(3, 25, 22)]
    with shapetrace.trace(model) as t:
        out = model(images)
    transform = t["transform"]
    assert [(m.path, m.shape) for m in transform.outputs] == [("0.tensors", (2, 3, 32, 40))]
    assert [(m.path, m.shape) for m in transform.inputs] == [("0.0", (3, 20, 30)), ("0.1", (3, 25, 22))]
    # the exact link: the backbone's input is the very tensor the ImageList held
    assert t["backbone"].input_ids[0] == transform.output_ids[0]
    assert out.shape == (2, 4, 32, 40)


def test_highly_nested_dict_model() -> None:
    model = HighlyNestedDictModel()
    with shapetrace.trace(model) as t:
        model(torch.randn(4, 10))
    assert [(m.path, m.shape) for m in t.root.outputs] == [("foo.0.bar.0.tensors", (4, 10))]


class Holder:
    def __init__(self) -> None:
        self.module = nn.Linear(2, 2)  # parameters are not a value the object holds
        self._private = torch.zeros(5)
        self.weights = torch.ones(3)
        self.me = self  # a cycle
        self.inner = ObjectWithTensors(torch.zeros(1, 2))
        self.pair = [torch.zeros(2, 2), {"k": torch.zeros(7)}]


def test_walk_skips_modules_private_attributes_and_stops() -> None:
    metas = collect_metas([Holder()])
    paths = [(m.path, m.shape) for m in metas]
    assert ("0.weights", (3,)) in paths
    assert ("0.inner.tensors", (1, 2)) in paths
    assert ("0.pair.0", (2, 2)) in paths
    assert not [p for p, _ in paths if "module" in p or "_private" in p]
    # two levels below a plain object, no more: the cycle and the dict in the list stop there
    assert ("0.me.weights", (3,)) in paths
    assert not [p for p, _ in paths if p.startswith("0.me.me") or p.endswith(".k")]


# -- the graph side: edges from and to tensors held by plain objects --------------------------
class ImageBackbone(nn.Module):
    """Takes the ImageList itself (as torchvision's detection models pass it on) and returns one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, images: ImageList) -> ImageList:
        return ImageList(self.conv(images.tensors), images.image_sizes)


class ObjectDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.transform = DetectionTransform()
        self.backbone = ImageBackbone()
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, images):
        image_list, _ = self.transform(images)
        features = self.backbone(image_list)
        return {"maps": [ObjectWithTensors(self.head(features.tensors))], "features": features}


def test_the_graph_draws_edges_from_and_to_tensors_in_plain_objects() -> None:
    from tests.graph_check import check_graph

    model = ObjectDetector()
    for recorded_ops in (True, False):
        with shapetrace.trace(model, ops=recorded_ops) as t:
            model([torch.randn(3, 20, 30), torch.randn(3, 25, 22)])
        assert [m.path for m in t["backbone"].inputs] == ["0.tensors"]
        assert [m.path for m in t.root.outputs] == ["maps.0.tensors", "features.tensors"]
        for view in ({}, {"ops": True}, {"depth": 1}):
            graph = check_graph(t, t.graph(**view).source, what=f"ops={recorded_ops} {view}")
            named = {graph.nodes[node]: node for node in graph.nodes}
            backbone = f"c{t['backbone.conv' if view.get('depth') is None else 'backbone'].id}"
            head = f"c{t['head'].id}"
            edges = {(tail, head_): label for tail, head_, label, _ in graph.edges}
            # The resized batch the ImageList held goes on into the backbone, exactly.
            assert [label for (_, to), label in edges.items() if to == backbone] == ["(2, 3, 32, 40)"]
            # Each tensor of the nested output is its own output node, named by its place.
            assert edges[(head, named["output maps.0.tensors"])] == "(2, 2, 32, 40)"
            assert edges[(backbone, named["output features.tensors"])] == "(2, 4, 32, 40)"
