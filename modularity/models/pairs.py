"""Networks for the double-addition task (Csordás et al. 2021, "+/+"), built from the project's MLP and
LSTM cell so masks, keyed by parameter name, work on them unchanged."""

from __future__ import annotations

import torch
from torch import nn

from modularity.data.pair_arithmetic import INPUT_SIZE, OUTPUT_SIZE, PAIR_OUTPUTS, only_pair
from modularity.models.lstm import LSTMCell
from modularity.models.mlp import MLP


class TwicePairMLP(nn.Module):
    """The FNN is run twice per example: run t sees only pair t's input, and pair t's answer is read from
    pair t's output slot of run t. Parameters are ``net.layers.{i}.*``."""

    def __init__(self, hidden: list[int]):
        super().__init__()
        self.net = MLP(INPUT_SIZE, hidden, OUTPUT_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.net(only_pair(x, 0))[:, :PAIR_OUTPUTS]
        second = self.net(only_pair(x, 1))[:, PAIR_OUTPUTS:]
        return torch.cat([first, second], dim=1)


class PairLSTM(nn.Module):
    """Stacked LSTM over 6 steps. ``together``: the full input at every step, both answers from the last
    step. ``only_one_io``: steps 0–2 see only pair 1, steps 3–5 only pair 2; pair 1's answer is read at
    step 2, pair 2's at step 5 (each from its own output slot)."""

    MODES = ("together", "only_one_io")

    def __init__(self, hidden: int, n_layers: int = 2, n_steps: int = 6, mode: str = "together"):
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown LSTM mode {mode!r}; use one of {self.MODES}")
        self.mode, self.n_steps = mode, n_steps
        self.cells = nn.ModuleList(LSTMCell(INPUT_SIZE if i == 0 else hidden, hidden) for i in range(n_layers))
        self.output_projection = nn.Linear(hidden, OUTPUT_SIZE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [(x.new_zeros(len(x), c.hidden_size),) * 2 for c in self.cells]
        half = self.n_steps // 2
        outputs = []
        for step in range(self.n_steps):
            layer_input = x if self.mode == "together" else only_pair(x, 0 if step < half else 1)
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
            if self.mode == "only_one_io" and step in (half - 1, self.n_steps - 1):
                outputs.append(self.output_projection(layer_input))
        if self.mode == "together":
            return self.output_projection(layer_input)
        return torch.cat([outputs[0][:, :PAIR_OUTPUTS], outputs[1][:, PAIR_OUTPUTS:]], dim=1)


@torch.no_grad()
def copy_pair2_onto_pair1(model: TwicePairMLP) -> None:
    """The positive control (``tuple_ff_copyweight``): pair 1's input columns of the first layer and its
    output rows (and biases) of the last layer become copies of pair 2's, so both pairs are computed by
    exactly the same circuit."""
    first, last = model.net.layers[0], model.net.layers[-1]
    first.weight[:, :INPUT_SIZE // 2] = first.weight[:, INPUT_SIZE // 2:]
    last.weight[:PAIR_OUTPUTS] = last.weight[PAIR_OUTPUTS:]
    last.bias[:PAIR_OUTPUTS] = last.bias[PAIR_OUTPUTS:]
