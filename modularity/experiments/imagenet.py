"""Clusterability of ImageNet ResNet-18 and VGG16 channel graphs (P1b's ImageNet rows), with torchvision's
pretrained weights where a user has them, else with untrained (torchvision-initialised) weights; and the
importance of their channel sub-clusters (Hod et al., P2's ImageNet analysis) on labelled images a user has.

A sub-cluster is one spectral cluster's channels within one group of the channel graph (a tensor that
convolutions read, residual streams included). It is lesioned by closing those channels on the traced graph
(``channel_gates``), and compared with random same-size channel sets of its group as the MLP analysis does
(``importance.importance_record``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from modularity import dag_graph, lesions
from modularity.channel_gates import ChannelGates
from modularity.experiments import importance
from modularity.models import imagenet

__all__ = ["channel_importance", "find_weights", "hub_checkpoints", "load_images", "run_importance", "run_model"]

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # torchvision's ImageNet normalisation
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


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


def _model(name: str, weights: str | None, seed: int) -> torch.nn.Module:
    """The named model with the weight file ``weights``, else torchvision's initialisation drawn from ``seed``."""
    if weights:
        return imagenet.load_pretrained(name, weights)
    torch.manual_seed(seed)
    return imagenet.ARCHITECTURES[name]().eval()


def run_model(name: str, weights: str | None, k: int, n_shuffles: int, seed: int) -> dict:
    """n-cut of the model's channel graph against ``n_shuffles`` layer shuffles."""
    model = _model(name, weights, seed)
    graph = dag_graph.channel_dag(model)
    result = dag_graph.clusterability(graph, k, n_shuffles, seed)
    return result | {"n_nodes": graph.n_nodes, "n_groups": len(graph.groups), "pretrained": bool(weights)}


def load_images(folder: str, per_class: int, n_classes: int = 1000, size: int = 224
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` images (by file name) of each class folder of ``folder``, resized so the shorter
    side is 8/7 of ``size`` (256 for 224), centre-cropped to ``size`` × ``size`` and normalised as torchvision's
    ImageNet models expect, with their labels. The folder holds one sub-folder per class named by its WordNet id
    (ImageNet's validation set as the usual ``valprep.sh`` lays it out): sorted, the names give the class
    indices of torchvision's weights, so all ``n_classes`` must be there."""
    from PIL import Image

    root = Path(folder).expanduser()
    classes = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if len(classes) != n_classes:
        raise ValueError(f"{root} has {len(classes)} class folders, not {n_classes}: give the folder with one "
                         "sub-folder per class (e.g. n01440764/…), all of them, as ImageNet's validation set is laid "
                         "out by valprep.sh")
    short = round(size * 8 / 7)
    mean, std = torch.tensor(MEAN)[:, None, None], torch.tensor(STD)[:, None, None]
    images, labels = [], []
    for label, class_folder in enumerate(classes):
        files = sorted(p for p in class_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:per_class]
        if not files:
            raise ValueError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in {class_folder}")
        for path in files:
            with Image.open(path) as image:
                image = image.convert("RGB")
                scale = short / min(image.size)
                image = image.resize((max(short, round(image.width * scale)), max(short, round(image.height * scale))),
                                     Image.BILINEAR)
                left, top = (image.width - size) // 2, (image.height - size) // 2
                pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255
            images.append((torch.from_numpy(pixels).permute(2, 0, 1) - mean) / std)
            labels.append(label)
    return torch.stack(images), torch.tensor(labels)


def channel_importance(model: torch.nn.Module, k: int, n_random: int, x: torch.Tensor, y: torch.Tensor,
                       seed: int = 0, batch: int = 50) -> dict:
    """Every sub-cluster of the model's channel graph (k spectral clusters; P2's size filter) lesioned on the
    images ``x`` against ``n_random`` random same-size sets of its group: one record per sub-cluster."""
    model = model.eval()
    graph = dag_graph.channel_dag(model)
    labels, _ = dag_graph.spectral_clustering(graph.adjacency(), k, seed)
    offsets = np.cumsum([0] + [size for _, size in graph.groups])
    group_labels = [labels[offsets[i]:offsets[i + 1]] for i in range(len(graph.groups))]
    gates, n_classes = ChannelGates(model, dict(graph.groups)), int(y.max()) + 1
    base = lesions.model_class_accuracies(gates, x, y, n_classes, batch)
    rng, records = np.random.default_rng(seed), []
    for cluster in importance.sub_clusters(group_labels):
        name = graph.groups[cluster.layer][0]
        accs = []
        for channels in importance.unit_sets(cluster, group_labels, n_random, rng):
            with gates.closed(name, channels.tolist()):
                accs.append(lesions.model_class_accuracies(gates, x, y, n_classes, batch))
        records.append({"group": name, "label": cluster.label, "size": len(cluster.units)}
                       | importance.importance_record(np.array(accs), base))
    return {"records": records, "base_acc": base, "n_groups": len(graph.groups)}


def run_importance(name: str, weights: str | None, images: str, per_class: int, k: int, n_random: int,
                   seed: int, size: int = 224) -> dict:
    """``channel_importance`` of the named model (pretrained where ``weights`` is given) on ``per_class``
    images of each class of the folder ``images``, centre-cropped to ``size``."""
    model = _model(name, weights, seed)
    x, y = load_images(images, per_class, size=size)
    return channel_importance(model, k, n_random, x, y, seed)
