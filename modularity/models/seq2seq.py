"""Encoder–decoder models of the weight-mask paper (Csordás et al. 2021, SCAN and Mathematics), written so that masks
keyed by parameter name work on them: the project's LSTM cell, and a Transformer whose attention,
feed-forward and LayerNorm parameters are plain modules (no fused kernels that a vmapped mask cannot enter).

Both take ``(src, src_len, tgt)`` padded index tensors (EOS included in the lengths) and return logits
``[batch, steps, n_actions + 1]``; index ``n_actions`` is the decoder's SOS on input and EOS on output.
Loop bounds come from the padded tensors' shapes, never from their values, so a vmapped call can run them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from modularity.models.lstm import LSTMCell


class Seq2SeqLSTM(nn.Module):
    """2-layer LSTM encoder whose final state (at each sequence's own end) starts a 2-layer LSTM decoder;
    dropout on embeddings and between layers; per batch, teacher forcing or greedy feedback of its own
    predictions."""

    def __init__(self, n_words: int, n_actions: int, hidden: int = 200, n_layers: int = 2, embedding: int = 16,
                 dropout: float = 0.5):
        super().__init__()
        self.src_embedding = nn.Embedding(n_words + 1, embedding)
        self.tgt_embedding = nn.Embedding(n_actions + 1, embedding)
        self.encoder = nn.ModuleList(LSTMCell(embedding if i == 0 else hidden, hidden) for i in range(n_layers))
        self.decoder = nn.ModuleList(LSTMCell(embedding if i == 0 else hidden, hidden) for i in range(n_layers))
        self.output_projection = nn.Linear(hidden, n_actions + 1)
        self.dropout, self.sos = dropout, n_actions

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, self.dropout, self.training) if self.dropout else x

    def encode(self, src: torch.Tensor, src_len: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        embedded = self._drop(self.src_embedding(src))
        hidden = self.encoder[0].hidden_size
        states = [(embedded.new_zeros(len(src), hidden),) * 2 for _ in self.encoder]
        for t in range(src.shape[1]):
            alive = (src_len > t)[:, None]
            x = embedded[:, t]
            for i, cell in enumerate(self.encoder):
                h, c = cell(x, states[i])
                states[i] = (torch.where(alive, h, states[i][0]), torch.where(alive, c, states[i][1]))
                x = self._drop(h) if i < len(self.encoder) - 1 else h
        return states

    def step(self, previous: torch.Tensor, states):
        x = self._drop(self.tgt_embedding(previous))
        for i, cell in enumerate(self.decoder):
            states[i] = cell(x, states[i])
            x = self._drop(states[i][0]) if i < len(self.decoder) - 1 else states[i][0]
        return self.output_projection(x), states

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt: torch.Tensor,
                teacher_forcing: bool | torch.Tensor = True) -> torch.Tensor:
        """``teacher_forcing``: one flag for the batch, or a bool tensor with one flag per sequence."""
        states = self.encode(src, src_len)
        previous = src.new_full((len(src),), self.sos)
        outputs = []
        for t in range(tgt.shape[1]):
            logits, states = self.step(previous, states)
            outputs.append(logits)
            if isinstance(teacher_forcing, torch.Tensor):
                previous = torch.where(teacher_forcing, tgt[:, t], logits.argmax(-1))
            else:
                previous = tgt[:, t] if teacher_forcing else logits.argmax(-1)
        return torch.stack(outputs, 1)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_len: torch.Tensor, n_steps: int) -> torch.Tensor:
        return self(src, src_len, src.new_zeros(len(src), n_steps), teacher_forcing=False).argmax(-1)


class ScanLayerNorm(nn.LayerNorm):
    """The original's LayerNorm: γ·(x − μ)/(σ_unbiased + ε) + β (ε outside the square root)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        return self.weight * (x - mean) / (x.std(-1, keepdim=True) + self.eps) + self.bias


class Attention(nn.Module):
    """Multi-head attention with q, kv and output projections without biases (masks can enter each)."""

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.q, self.kv = nn.Linear(d, d, bias=False), nn.Linear(d, 2 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.n_heads, self.dropout = n_heads, nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, pad: torch.Tensor | None, causal: bool) -> torch.Tensor:
        b, t, d = x.shape
        heads = lambda y: y.reshape(b, y.shape[1], self.n_heads, d // self.n_heads).transpose(1, 2)  # noqa: E731
        q = heads(self.q(x))
        k, v = (heads(y) for y in self.kv(memory).chunk(2, dim=-1))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads)
        if pad is not None:
            scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
        if causal:
            future = torch.ones(t, memory.shape[1], dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        attended = self.dropout(scores.softmax(-1)) @ v
        return self.out(attended.transpose(1, 2).reshape(b, t, d))


class TransformerLayer(nn.Module):
    """Post-LN layer: self-attention, cross-attention (decoder only), ReLU feed-forward."""

    def __init__(self, d: int, n_heads: int, ff: int, dropout: float, decoder: bool):
        super().__init__()
        self.self_attention = Attention(d, n_heads, dropout)
        self.cross_attention = Attention(d, n_heads, dropout) if decoder else None
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2 = ScanLayerNorm(d), ScanLayerNorm(d)
        self.norm3 = ScanLayerNorm(d) if decoder else None
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, pad, memory=None, memory_pad=None):
        decoder = self.cross_attention is not None
        x = self.norm1(x + self.dropout(self.self_attention(x, x, None if decoder else pad, causal=decoder)))
        if decoder:
            x = self.norm3(x + self.dropout(self.cross_attention(x, memory, memory_pad, causal=False)))
        hidden = self.dropout(torch.relu(self.linear1(x)))
        return self.norm2(x + self.dropout(self.linear2(hidden)))


def sinusoids(length: int, d: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(length, d)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
    return table


class Seq2SeqTransformer(nn.Module):
    """Post-LN encoder–decoder with sinusoidal positions added to unscaled embeddings; always teacher-forced
    in training, greedy at evaluation. ``n_src`` / ``n_tgt`` count every token (``sos`` included); with
    ``tied`` one embedding serves source, target and output (logits = h·Eᵀ/√d), as for Mathematics."""

    def __init__(self, n_src: int, n_tgt: int, sos: int, d: int = 100, n_heads: int = 4, ff: int = 200,
                 n_layers: int = 3, dropout: float = 0.1, max_length: int = 256, tied: bool = False):
        super().__init__()
        if tied and n_src != n_tgt:
            raise ValueError("tied embeddings need one vocabulary for source and target")
        self.src_embedding = nn.Embedding(n_src, d)
        self.tgt_embedding = self.src_embedding if tied else nn.Embedding(n_tgt, d)
        self.register_buffer("positions", sinusoids(max_length, d), persistent=False)
        self.encoder = nn.ModuleList(TransformerLayer(d, n_heads, ff, dropout, False) for _ in range(n_layers))
        self.decoder = nn.ModuleList(TransformerLayer(d, n_heads, ff, dropout, True) for _ in range(n_layers))
        self.output_map = None if tied else nn.Linear(d, n_tgt)
        if self.output_map is not None:
            nn.init.xavier_uniform_(self.output_map.weight)
        self.dropout, self.sos, self.scale = nn.Dropout(dropout), sos, d ** -0.5

    def encode(self, src: torch.Tensor, src_len: torch.Tensor):
        pad = torch.arange(src.shape[1], device=src.device)[None, :] >= src_len[:, None]
        x = self.dropout(self.src_embedding(src) + self.positions[:src.shape[1]])
        for layer in self.encoder:
            x = layer(x, pad)
        return x, pad

    def decode(self, previous: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.tgt_embedding(previous) + self.positions[:previous.shape[1]])
        for layer in self.decoder:
            x = layer(x, None, memory, memory_pad)
        return self.output_map(x) if self.output_map is not None else x @ self.tgt_embedding.weight.T * self.scale

    def forward(self, src: torch.Tensor, src_len: torch.Tensor, tgt: torch.Tensor,
                teacher_forcing: bool = True) -> torch.Tensor:
        memory, pad = self.encode(src, src_len)
        previous = torch.cat([src.new_full((len(src), 1), self.sos), tgt[:, :-1]], dim=1)
        return self.decode(previous, memory, pad)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, src_len: torch.Tensor, n_steps: int) -> torch.Tensor:
        memory, pad = self.encode(src, src_len)
        previous = src.new_full((len(src), 1), self.sos)
        for _ in range(n_steps):
            predicted = self.decode(previous, memory, pad)[:, -1].argmax(-1)
            previous = torch.cat([previous, predicted[:, None]], dim=1)
        return previous[:, 1:]


def sequence_loss(logits: torch.Tensor, tgt: torch.Tensor, tgt_len: torch.Tensor) -> torch.Tensor:
    """Σ over each sequence's positions (EOS included) of the token cross-entropy, averaged over the batch."""
    steps = logits.shape[1]
    losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, :steps].reshape(-1),
                                         reduction="none").view(len(tgt), steps)
    valid = torch.arange(steps, device=tgt.device)[None, :] < tgt_len[:, None]
    return (losses * valid).sum() / len(tgt)


def exact_match(predicted: torch.Tensor, tgt: torch.Tensor, tgt_len: torch.Tensor) -> torch.Tensor:
    """Per sequence: every position up to and including the reference EOS is right (so the predicted
    sequence has exactly the reference's length)."""
    steps = tgt.shape[1]
    if predicted.shape[1] < steps:
        return torch.zeros(len(tgt), dtype=torch.bool, device=tgt.device)
    valid = torch.arange(steps, device=tgt.device)[None, :] < tgt_len[:, None]
    return ((predicted[:, :steps] == tgt) | ~valid).all(1)
