"""Lesions of the channels of any tensor inside a network, residual streams included.

``lesions.lesioned`` zeroes a module's output through a forward hook, which suffices for a chain of layers. In a
ResNet the tensors that convolutions read are often not any module's output (the sum of a block's branch and
its shortcut, after a ReLU module that the block calls twice), so a lesion has to act on the traced graph: the
model is traced with ``torch.fx``, and after each named tensor a gate multiplies it by a per-channel factor,
1 everywhere except inside ``closed``. The gated copy shares the model's parameters and leaves the model itself
unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import fx, nn

from modularity.dag_graph import FLATTENS

__all__ = ["ChannelGates"]


def _gated_node(node: fx.Node) -> fx.Node:
    """The tensor whose channels a group names: a flattened group's channels are those of its input."""
    flattens = (node.op == "call_function" and node.target in FLATTENS) or (
        node.op == "call_method" and node.target in ("flatten", "view", "reshape"))
    return node.args[0] if flattens else node


class ChannelGates(nn.Module):
    """``model`` traced, with a gate after each of the traced tensors ``sizes`` names (node name → channels; the
    names of ``dag_graph.ChannelDAG.groups``)."""

    def __init__(self, model: nn.Module, sizes: dict[str, int]):
        super().__init__()
        traced = fx.symbolic_trace(model)
        nodes = {node.name: node for node in traced.graph.nodes}
        unknown = sorted(set(sizes) - set(nodes))
        if unknown:
            raise ValueError(f"no traced tensor named {', '.join(unknown)} in {type(model).__name__}; use the names "
                             "of dag_graph.channel_dag(model).groups")
        self.names = list(sizes)
        for index, (name, channels) in enumerate(sizes.items()):
            target = _gated_node(nodes[name])
            buffer = f"gate_{index}"
            traced.register_buffer(buffer, torch.ones(1, channels, 1, 1))
            with traced.graph.inserting_after(target):
                gate = traced.graph.get_attr(buffer)
            with traced.graph.inserting_after(gate):
                gated = traced.graph.call_function(torch.mul, (target, gate))
            target.replace_all_uses_with(gated, delete_user_cb=lambda user, gated=gated: user is not gated)
        traced.recompile()
        self.traced = traced

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.traced(x)

    @contextmanager
    def closed(self, name: str, channels: Iterable[int]) -> Iterator[None]:
        """Within the block, the named tensor's ``channels`` are 0 (every other gate stays open)."""
        gate = getattr(self.traced, f"gate_{self.names.index(name)}")
        channels = torch.as_tensor(list(channels), dtype=torch.long)
        gate[0, channels] = 0
        try:
            yield
        finally:
            gate.fill_(1)
