"""The model's output for an utterance must not depend on the batch it is padded into."""

import torch

from asr.audio import load_audio
from asr.features import FeatureConfig, FeatureExtractor
from asr.model import AcousticModel, ModelConfig


def test_output_is_independent_of_batch_and_padding(librispeech_sample):
    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    paths = sorted(librispeech_sample.glob("test-clean/*/*/*.flac"))[:4]
    feats = [extractor(torch.from_numpy(load_audio(p))) for p in paths]
    lengths = [f.shape[0] for f in feats]
    assert len(set(lengths)) == 4 and any(n % 3 for n in lengths)  # different lengths, not all multiples of the stride
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden_size=32, num_layers=2, dropout=0.2), input_dim=40, vocab_size=29).eval()
    model.set_normalization(torch.randn(40), torch.rand(40) + 0.5)
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    padded_noise = padded.clone()
    for b, n in enumerate(lengths):  # whatever sits in the padding must not matter
        padded_noise[b, n:] = 1e3
    with torch.no_grad():
        batch_out, batch_len = model(padded, torch.tensor(lengths))
        noisy_out, _ = model(padded_noise, torch.tensor(lengths))
        for b, f in enumerate(feats):
            alone, alone_len = model(f[None], torch.tensor([f.shape[0]]))
            n = int(alone_len[0])
            assert n == int(batch_len[b]) == -(-lengths[b] // 3)
            assert torch.allclose(alone[0, :n], batch_out[b, :n], atol=1e-5)
            assert torch.allclose(alone[0, :n], noisy_out[b, :n], atol=1e-5)
    # each frame is a log-distribution over the vocabulary
    assert torch.allclose(batch_out.exp().sum(-1), torch.ones(batch_out.shape[:2]), atol=1e-4)


def test_training_gradients_do_not_depend_on_the_batch(librispeech_sample):
    """Training runs the LSTM over padded batches (oneDNN on a CPU, asr.model.bilstm): the gradient of a
    batch must be the sum of its utterances' gradients, each computed alone without padding."""
    extractor = FeatureExtractor(FeatureConfig(n_mels=40))
    paths = sorted(librispeech_sample.glob("test-clean/*/*/*.flac"))[:3]
    feats = [extractor(torch.from_numpy(load_audio(p))) for p in paths]
    lengths = torch.tensor([f.shape[0] for f in feats])
    torch.manual_seed(0)
    model = AcousticModel(ModelConfig(hidden_size=24, num_layers=2, dropout=0.0), input_dim=40, vocab_size=29).train()

    def gradients(batch, batch_lengths):
        model.zero_grad()
        out, out_lengths = model(batch, batch_lengths)
        valid = torch.arange(out.shape[1])[None, :] < out_lengths[:, None]
        (out[:, :, 5] * valid).sum().backward()  # padded frames contribute nothing
        return [p.grad.clone() for p in model.parameters()]

    together = gradients(torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lengths)
    alone = [gradients(f[None], lengths[b:b + 1]) for b, f in enumerate(feats)]
    for i, g in enumerate(together):
        expected = sum(a[i] for a in alone)
        assert torch.allclose(g, expected, rtol=1e-3, atol=1e-4 * expected.abs().max().item())
