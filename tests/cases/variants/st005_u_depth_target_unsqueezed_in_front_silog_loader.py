"""ST005 variant: a monocular depth net predicts (B, 1, H, W) and is trained with a scale-invariant
log loss written by hand. Its DataLoader yields depth maps (B, H, W), and the loop gives them their
channel axis with ``depth.unsqueeze(0)``: (1, B, H, W). ``torch.log(pred) - torch.log(depth)``
broadcasts to (B, B, H, W), every prediction against every sample's depth map, and the loss is
reduced to one number: nothing raises. By shapes alone it is the layout of a loss over all pairs;
the DataLoader's batch is dim 0 of the prediction and dim 1 of the target. The fix:
``depth.unsqueeze(1)``."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from variant_work import epoch, run


class DepthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, image):
        return F.softplus(self.up(torch.relu(self.down(image)))) + 1e-3


def silog(pred, target, focus=0.85):
    d = torch.log(pred) - torch.log(target)
    return torch.sqrt((d**2).mean() - focus * d.mean() ** 2)


def make(fixed=False):
    torch.manual_seed(0)
    model = DepthNet()
    images, depths = torch.rand(12, 3, 16, 16), torch.rand(12, 16, 16) * 5 + 1
    loader = DataLoader(TensorDataset(images, depths), batch_size=4)

    def loss_of(image, depth):
        if fixed:
            depth = depth.unsqueeze(1)
        else:
            depth = depth.unsqueeze(0)  # culprit
        return silog(model(image), depth)

    return model, epoch(model, loader, loss_of)


if __name__ == "__main__":
    run(make)
