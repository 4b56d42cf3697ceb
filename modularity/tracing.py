"""The weighted layers of a model in the order its forward pass uses them, found by tracing (``torch.fx``).

A layered weight graph (Filan et al.) has one layer of nodes per weighted layer and edges only between
neighbours, so it can represent a chain: each weighted layer reads what the previous one wrote, through any
number of operations on single tensors (activations, dropout, normalisation, pooling, flattening). Registration
order is not forward order, and a skip connection, a layer used twice or a branch has no layered graph: those
are refused with the module that breaks the chain, instead of returning a wrong graph.
"""

from __future__ import annotations

from torch import fx, nn

__all__ = ["GraphTracingError", "weighted_chain"]


class GraphTracingError(ValueError):
    """The model's weighted layers do not form the chain a layered weight graph needs."""


# weighted modules a graph of one kind cannot pass through (their weights would be silently left out)
OPAQUE = (nn.modules.conv._ConvNd, nn.Linear, nn.RNNBase, nn.MultiheadAttention, nn.Embedding)


def weighted_chain(model: nn.Module, kinds: tuple[type, ...], stop_at: tuple[type, ...] = ()) -> list[nn.Module]:
    """The modules of ``kinds`` in forward order, checked to form a chain.

    The chain ends at the first module of ``stop_at`` (e.g. a CNN's dense head, left out of its channel
    graph); the layers after it are not checked. The chain's input must be the model's input, and no other
    weighted module (a convolution before an MLP graph's first layer, an LSTM, attention) may sit inside it.
    """
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as error:  # torch.fx raises many kinds for untraceable Python
        raise GraphTracingError(
            f"cannot trace {type(model).__name__}'s forward pass with torch.fx ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); build the graph from the layer matrices "
            "yourself with clustering.layered_graph([w1.T, w2.T, ...])") from error
    modules = dict(model.named_modules())
    chain: list[fx.Node] = []
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        module = modules[node.target]
        if isinstance(module, stop_at) and chain:
            break
        if not isinstance(module, kinds):
            continue
        if any(previous.target == node.target for previous in chain):
            raise GraphTracingError(f"module {node.target!r} is used twice in the forward pass: a layered weight "
                                    "graph has one layer of nodes per weighted module")
        sources = _weighted_sources(node, modules, kinds, stop_at)
        expected = {chain[-1]} if chain else {"input"}
        if sources != expected:
            raise GraphTracingError(
                f"module {node.target!r} reads {_describe(sources)}, not only {_describe(expected)}: a skip "
                "connection or branch has no layered weight graph")
        chain.append(node)
    if not chain:
        raise GraphTracingError(f"{type(model).__name__} has no {'/'.join(k.__name__ for k in kinds)} layer")
    if not stop_at:
        outputs = [node for node in graph.nodes if node.op == "output"]
        sources = set().union(*(_weighted_sources(node, modules, kinds, stop_at) for node in outputs))
        if sources != {chain[-1]}:
            raise GraphTracingError(f"the model's output comes from {_describe(sources)}, not only from its last "
                                    f"weighted layer {chain[-1].target!r}: a skip connection to the output")
    return [modules[node.target] for node in chain]


def _weighted_sources(node: fx.Node, modules: dict, kinds: tuple[type, ...], stop_at: tuple[type, ...]) -> set:
    """The nearest weighted-layer nodes (or ``"input"``) that the inputs of ``node`` derive from."""
    sources, stack, seen = set(), list(node.all_input_nodes), set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.op == "placeholder":
            sources.add("input")
        elif current.op == "call_module" and isinstance(modules[current.target], kinds):
            sources.add(current)
        elif current.op == "call_module" and isinstance(modules[current.target], OPAQUE + stop_at):
            module = modules[current.target]
            raise GraphTracingError(f"{type(module).__name__} {current.target!r} feeds {node.target!r}: this graph "
                                    f"has layers of {'/'.join(k.__name__ for k in kinds)} only (a CNN's channel "
                                    "graph is clustering.cnn_graph)")
        elif current.op == "get_attr":
            continue  # a constant or parameter read directly, not data flowing from a layer
        else:
            stack.extend(current.all_input_nodes)
    return sources


def _describe(sources: set) -> str:
    names = sorted("the model's input" if s == "input" else repr(s.target) for s in sources)
    return " and ".join(names) if names else "nothing"
