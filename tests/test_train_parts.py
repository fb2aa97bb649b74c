"""Training parts beside the loop: a network grown from a shallower one (asr/grow.py) and the
auxiliary phone CTC loss (asr/phone_aux.py), on real spoken digits."""

import re

import pytest
import torch

from asr.errors import ConfigError
from asr.modelfile import CHECKPOINT_FORMAT, load_model_file, safe_load
from asr.provenance import source_hash
from asr.train import Trainer, train

from test_train import quiet, small_config


@pytest.fixture(scope="module")
def shallow_model(tmp_path_factory, digits_corpus):
    out = tmp_path_factory.mktemp("shallow")
    train(small_config(digits_corpus, out, **{"model.num_layers": 1, "epochs": 2}), log=quiet)
    return out / "best_model.pt"


def test_a_deeper_network_grows_from_a_shallower_one(tmp_path, digits_corpus, shallow_model):
    """Its layer sits at the bottom of the 3-layer network with its normalisation and output layer; the
    two new layers pass their input through, so the grown network starts about where the shallow one
    was (Net2DeeperNet); it trains, and its model file has 3 layers."""
    from asr.data import collate

    shallow = load_model_file(str(shallow_model)).model.eval()
    source = shallow.state_dict()
    cfg = small_config(digits_corpus, tmp_path / "deep", **{"model.num_layers": 3, "init_from": str(shallow_model),
                                                           "epochs": 1})
    trainer = Trainer(cfg, log=quiet)
    trainer.initialise_from(str(shallow_model))
    grown = trainer.model.state_dict()
    for name in ("lstm.weight_ih_l0", "lstm.weight_hh_l0_reverse", "lstm.bias_ih_l0", "feature_mean", "feature_std",
                 "output.weight"):
        assert torch.equal(grown[name], source[name]), name
    batch = collate([trainer.train_set[i] for i in range(len(trainer.train_set))])
    with torch.inference_mode():
        before = shallow(batch.feats, batch.feat_lengths)[0].argmax(-1)
        after = trainer.model.eval()(batch.feats, batch.feat_lengths)[0].argmax(-1)
    valid = torch.arange(before.shape[1])[None, :] < shallow.output_lengths(batch.feat_lengths)[:, None]
    assert (before == after)[valid].float().mean() > 0.9  # the same best unit in most frames
    trainer.model.train()
    result = train(cfg, log=quiet)
    assert result.epochs_done == 1
    deep = load_model_file(str(tmp_path / "deep" / "best_model.pt"))
    assert deep.model.config.num_layers == 3
    # the model file says what made it: the commit, the command, a hash of the training data
    made = deep.metadata["provenance"]
    assert re.fullmatch(r"[0-9a-f]{40}", made["git_commit"]) and isinstance(made["git_dirty"], bool)
    assert made["train_data_sha256"] == {str(digits_corpus): source_hash(str(digits_corpus))}
    assert deep.metadata["init_from"]["provenance"]["train_data_sha256"] == made["train_data_sha256"]


@pytest.mark.parametrize("change, message", [({"model.hidden_size": 32}, "grows only in depth"),
                                             ({"model.stack_frames": 4}, "grows only in depth")])
def test_growing_needs_the_same_width_and_frame_rate(tmp_path, digits_corpus, shallow_model, change, message):
    cfg = small_config(digits_corpus, tmp_path / "x", **{"model.num_layers": 3, "init_from": str(shallow_model),
                                                        **change})
    with pytest.raises(ConfigError, match=message):
        Trainer(cfg, log=quiet).initialise_from(str(shallow_model))


def phone_loss(trainer: Trainer) -> float:
    """The phone head's mean CTC loss over the training utterances (eval mode, no augmentation)."""
    from asr.data import collate

    trainer.model.eval()
    with torch.inference_mode():
        batch = collate([trainer.train_set[i] for i in range(len(trainer.train_set))])
        texts = [u.text for u in trainer.train_utts]
        loss = trainer.network(batch.feats, batch.feat_lengths, texts)[2].mean().item()
    trainer.model.train()
    return loss


def test_the_phone_head_learns_resumes_exactly_and_stays_out_of_the_model_file(tmp_path, digits_corpus):
    extra = {"model.num_layers": 2, "phone_aux.layer": 1, "phone_aux.weight": 0.5, "epochs": 10}
    trainer = Trainer(small_config(digits_corpus, tmp_path / "a", **extra), log=quiet)
    trainer.compute_normalization()  # as run() does first
    before = phone_loss(trainer)
    straight = trainer.run()
    assert phone_loss(trainer) < 0.8 * before  # measured here: 18.3 -> 13.0
    # stopped and resumed: the same weights, phone head and optimiser moments included
    train(small_config(digits_corpus, tmp_path / "b", **extra), max_steps=5, log=quiet)
    train(small_config(digits_corpus, tmp_path / "b", **extra), resume=True, log=quiet)
    a = safe_load(str(tmp_path / "a" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    b = safe_load(str(tmp_path / "b" / "checkpoint.pt"), CHECKPOINT_FORMAT)
    for part in ("model", "phone_head"):
        for name, tensor in a[part].items():
            assert torch.equal(tensor, b[part][name]), (part, name)
    assert straight.steps == 30
    # the model file is the plain character model: the head is a training-only part
    best = load_model_file(str(tmp_path / "a" / "best_model.pt"))
    assert set(best.model.state_dict()) == set(trainer.model.state_dict())
    assert best.vocab.units == "chars"
    # resuming with another phone_aux config is refused
    with pytest.raises(ConfigError, match="phone_aux"):
        train(small_config(digits_corpus, tmp_path / "b", **{**extra, "phone_aux.weight": 0.3}), resume=True, log=quiet)


def test_phone_aux_config_is_checked(tmp_path, digits_corpus):
    with pytest.raises(ConfigError, match="phone_aux.layer"):
        small_config(digits_corpus, tmp_path, **{"phone_aux.layer": 3}).validate()
    with pytest.raises(ConfigError, match="phone_aux.weight"):
        small_config(digits_corpus, tmp_path, **{"phone_aux.layer": 1, "phone_aux.weight": 1.5}).validate()
