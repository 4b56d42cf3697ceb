"""The project's own LSTM cell (masks need a different weight per batch chunk, which ``nn.LSTM``'s fused
kernel cannot take) and the add/mul LSTM of Csordás et al. 2021."""

from __future__ import annotations

import math

import torch
from torch import nn


class LSTMCell(nn.Module):
    """Gates i, f, g, o from one 4H-wide matmul of x and one of h; a single 4H bias."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Init of the original: forget bias 1; scaled normal W_ih, W_hh; orthogonal tanh-gain g block."""
        h, n_in = self.hidden_size, self.weight_ih.shape[1]
        with torch.no_grad():
            self.bias.zero_()
            self.bias[h : 2 * h] = 1.0
            self.weight_hh.normal_(0.0, math.sqrt(1.0 / h) / math.sqrt(2))
            self.weight_ih.normal_(0.0, math.sqrt(2.0 / (n_in + h)) / math.sqrt(2))
            nn.init.orthogonal_(self.weight_hh[2 * h : 3 * h], gain=(5 / 3) / math.sqrt(2))
            self.weight_ih[2 * h : 3 * h] *= 5 / 3

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        gates = x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class RepeatedInputLSTM(nn.Module):
    """Stacked LSTM fed the same input for ``n_steps`` steps; a Linear on the last top-layer output."""

    def __init__(self, in_features: int, hidden: int, out_features: int, n_layers: int = 2, n_steps: int = 3):
        super().__init__()
        self.n_steps = n_steps
        self.cells = nn.ModuleList(LSTMCell(in_features if i == 0 else hidden, hidden) for i in range(n_layers))
        self.output_projection = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [(x.new_zeros(len(x), c.hidden_size),) * 2 for c in self.cells]
        for _ in range(self.n_steps):
            layer_input = x
            for i, cell in enumerate(self.cells):
                states[i] = cell(layer_input, states[i])
                layer_input = states[i][0]
        return self.output_projection(layer_input)
