"""Clusterability of ImageNet ResNet-18 and VGG16 channel graphs (P1b's ImageNet rows), with torchvision's
pretrained weights where a user has them, else with untrained (torchvision-initialised) weights."""

from __future__ import annotations

from pathlib import Path

import torch

from modularity import dag_graph
from modularity.models import imagenet

__all__ = ["find_weights", "hub_checkpoints", "run_model"]


def hub_checkpoints() -> str:
    """Where torchvision keeps downloaded weights: torch's hub folder (``TORCH_HOME``) / checkpoints."""
    return str(Path(torch.hub.get_dir()) / "checkpoints")


def find_weights(name: str, weights_dir: str) -> Path | None:
    """torchvision's weight file for ``name`` (``resnet18-*.pth``, ``vgg16-*.pth``) in ``weights_dir``, or None
    when no folder is given; a folder without the file is refused with what to do."""
    if not weights_dir:
        return None
    folder = Path(weights_dir).expanduser()
    found = sorted(folder.glob(f"{name}-*.pth"))
    if not found:
        raise FileNotFoundError(f"no {name}-*.pth in {folder}: download torchvision's {name} ImageNet weights "
                                f"(torchvision.models.{name}(weights='DEFAULT') puts them in "
                                "~/.cache/torch/hub/checkpoints) or run with untrained weights")
    return found[-1]


def run_model(name: str, weights: str | None, k: int, n_shuffles: int, seed: int) -> dict:
    """n-cut of the model's channel graph against ``n_shuffles`` layer shuffles."""
    if weights:
        model = imagenet.load_pretrained(name, weights)
    else:
        torch.manual_seed(seed)
        model = imagenet.ARCHITECTURES[name]().eval()
    graph = dag_graph.channel_dag(model)
    result = dag_graph.clusterability(graph, k, n_shuffles, seed)
    return result | {"n_nodes": graph.n_nodes, "n_groups": len(graph.groups), "pretrained": bool(weights)}
