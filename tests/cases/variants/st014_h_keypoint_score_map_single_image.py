"""ST014 variant (https://github.com/TRI-ML/KP2D/pull/14, "when batch size is 1, squeeze
will squeeze the axis of batch"): a keypoint network's score head gives (batch, 1, H, W)
and the model calls ``.squeeze()`` for (batch, H, W) before taking the top-k keypoints of
each image from ``flatten(1)``. On one image at a time (inference) the score map loses
its batch axis: (H, W).flatten(1) is still (H, W), and the top-k runs per *row* of the
image. Nothing raises; the keypoints are wrong. Fix: ``.squeeze(1)``."""

import torch
from torch import nn
from variant_work import run

K = 5


class KeypointNet(nn.Module):
    def __init__(self, fixed=False):
        super().__init__()
        self.fixed = fixed
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU())
        self.score_head = nn.Conv2d(8, 1, 1)

    def forward(self, image):
        score = torch.sigmoid(self.score_head(self.backbone(image)))
        if self.fixed:
            score = score.squeeze(1)
        else:
            score = score.squeeze()  # culprit
        return score.flatten(1).topk(K, dim=1).indices


def make(fixed=False):
    torch.manual_seed(0)
    model = KeypointNet(fixed).eval()
    image = torch.randn(1, 3, 24, 32)

    def work():
        with torch.no_grad():
            print(model(image).shape)

    return model, work


if __name__ == "__main__":
    run(make)
