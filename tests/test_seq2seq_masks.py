"""Masks on the encoder–decoder models: every masked tensor's logits get a gradient, embeddings are never
masked and never move, and greedy decoding equals the model's own free-running forward."""

import torch

from modularity import masking
from modularity.models.seq2seq import Seq2SeqLSTM, Seq2SeqTransformer, sequence_loss


def batch(n=8, src_len=5, tgt_len=4, n_words=13, n_actions=6):
    generator = torch.Generator().manual_seed(0)
    src = torch.randint(0, n_words, (n, src_len), generator=generator)
    tgt = torch.randint(0, n_actions, (n, tgt_len), generator=generator)
    return src, torch.full((n,), src_len), tgt, torch.full((n,), tgt_len)


def nonzero_parameters(model):
    """Biases and LayerNorm β start at 0, where a mask's gradient (∝ the weight) is 0: perturb them."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)


def check_mask_gradients(model, inputs, targets, expected_masked):
    torch.manual_seed(0)
    nonzero_parameters(model)
    model.eval()
    names = masking.masked_parameter_names(model, mask_biases=False)
    assert set(expected_masked) <= set(names)
    assert not any("embedding" in n for n in names)
    embeddings = {n: p.detach().clone() for n, p in model.named_parameters() if "embedding" in n}
    logits = masking.MaskLogits.for_model(model, names)
    masking.train_mask(model, logits, lambda step: (inputs, targets), lambda out, t: sequence_loss(out, *t),
                       n_steps=1, beta=1e-4, penalty_batch_size=8, n_samples=4, progress=False)
    torch.manual_seed(1)
    out = masking.forward_with_samples(model, logits, inputs, 4)
    sequence_loss(out, *targets).backward()
    missing = [n for n, logit in logits.items() if logit.grad is None or not logit.grad.any()]
    assert not missing, f"no gradient reaches the logits of {missing}"
    for name, before in embeddings.items():
        assert torch.equal(dict(model.named_parameters())[name], before)


def test_lstm_masks_reach_every_recurrent_and_output_tensor():
    src, src_len, tgt, tgt_len = batch()
    model = Seq2SeqLSTM(13, 6, hidden=8, embedding=4)
    teacher = torch.tensor([True, False] * 4)
    masked = ["encoder.0.weight_ih", "encoder.1.weight_hh", "decoder.0.weight_hh", "output_projection.weight"]
    check_mask_gradients(model, (src, src_len, tgt, teacher), (tgt, tgt_len), masked)


def test_transformer_masks_reach_attention_feed_forward_and_layernorm():
    src, src_len, tgt, tgt_len = batch()
    model = Seq2SeqTransformer(14, 7, 6, d=8, n_heads=2, ff=16, n_layers=2)
    check_mask_gradients(model, (src, src_len, tgt), (tgt, tgt_len),
                         ["encoder.0.self_attention.q.weight", "decoder.1.cross_attention.kv.weight",
                          "decoder.0.linear2.weight", "encoder.1.norm1.bias", "decoder.1.norm3.weight",
                          "output_map.weight"])
    assert "encoder.0.linear1.bias" not in masking.masked_parameter_names(model, mask_biases=False)


def test_tied_transformer_masks_nothing_of_its_shared_embedding():
    model = Seq2SeqTransformer(20, 20, 1, d=8, n_heads=2, ff=16, n_layers=1, tied=True)
    assert model.src_embedding is model.tgt_embedding and model.output_map is None
    assert not any("embedding" in n for n in masking.masked_parameter_names(model))


def test_greedy_decoding_feeds_back_its_own_predictions():
    torch.manual_seed(0)
    src, src_len, tgt, _ = batch()
    lstm = Seq2SeqLSTM(13, 6, hidden=8, embedding=4).eval()
    free_running = lstm(src, src_len, torch.zeros_like(tgt), teacher_forcing=False).argmax(-1)
    assert torch.equal(lstm.greedy(src, src_len, tgt.shape[1]), free_running)
    trafo = Seq2SeqTransformer(14, 7, 6, d=8, n_heads=2, ff=16, n_layers=1).eval()
    decoded = trafo.greedy(src, src_len, 4)
    assert torch.equal(trafo(src, src_len, decoded).argmax(-1), decoded)  # teacher-forced on its own output


def test_padding_does_not_change_the_encoding():
    torch.manual_seed(0)
    src, src_len, tgt, _ = batch(n=2, src_len=3)
    padded = torch.cat([src, torch.full((2, 4), 13)], dim=1)  # EOS padding after the sequences
    for model in (Seq2SeqLSTM(13, 6, hidden=8, embedding=4).eval(),
                  Seq2SeqTransformer(14, 7, 6, d=8, n_heads=2, ff=16, n_layers=1).eval()):
        torch.testing.assert_close(model(src, src_len, tgt), model(padded, src_len, tgt))
