"""The ARPA builder: a proper distribution in every context, and scores that KenLM agrees with."""

import math

import pytest

from asr.lm import BOS, LanguageModelError, build_kneser_ney, read_arpa, read_sentences
from conftest import run_asr

TRAIN = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat ate the fish",
    "on the mat the cat slept", "a bird sang on the log", "the bird ate", "the dog ate the bone",
    "a dog sat", "the fish swam", "the cat sat", "on the log a bird sang",
]
HELD_OUT = ["the cat sat on the log", "a dog sang", "the bird ate the fish on the mat", "zebras sat"]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_in_every_context(order):
    model = build_kneser_ney(TRAIN, order)
    vocab = [w for w in model.vocabulary if w != BOS]
    contexts = {()} | {g[:-1] for g in model.logprob if len(g) > 1} | {("never", "seen")}
    for ctx in contexts:
        total = sum(10 ** model.log10_prob(w, ctx) for w in vocab)
        assert abs(total - 1.0) < 1e-9, (ctx, total)


def test_arpa_round_trip_and_kenlm_agree(tmp_path):
    model = build_kneser_ney(TRAIN * 3, 3)
    path = tmp_path / "lm.arpa"
    model.write_arpa(str(path))
    again = read_arpa(str(path))
    assert again.order == 3 and set(again.logprob) == set(model.logprob)

    # an independent implementation: KenLM (through flashlight-text) scores the same sentences
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    words = model.vocabulary
    d = Dictionary()
    for w in words:
        d.add_entry(w)
    kenlm = KenLM(str(path), d)
    total_ours, total_kenlm, tokens = 0.0, 0.0, 0
    for sentence in HELD_OUT:
        state = kenlm.start(False)
        for w in sentence.split():
            state, score = kenlm.score(state, d.get_index(w if w in words else "<unk>"))
            total_kenlm += score
        state, score = kenlm.finish(state)
        total_kenlm += score
        ours, n = again.sentence_log10_prob(sentence)
        total_ours += ours
        tokens += n
    assert abs(total_ours - total_kenlm) < 1e-4
    ppl = 10 ** (-total_kenlm / tokens)
    assert abs(again.perplexity(HELD_OUT) - ppl) < 1e-3 * ppl
    assert again.perplexity(TRAIN) < again.perplexity(HELD_OUT)  # seen text is more probable


def test_discounts_follow_chen_goodman_on_a_known_example():
    # bigram counts here are known by hand: 'the cat' twice, 'cat sat' once ...
    model = build_kneser_ney(["the cat sat", "the cat ran"], 2)
    # tiny data falls back to D = 0.5/1.0/1.5; p(cat | the) = (2 - 1.0)/2 + gamma(the) * p(cat)
    gamma_the = 1.0 / 2  # one distinct continuation with count 2 -> D2 = 1.0 freed out of 2
    p_cat = 10 ** model.log10_prob("cat", ())
    assert math.isclose(10 ** model.log10_prob("cat", ("the",)), 0.5 + gamma_the * p_cat, rel_tol=1e-9)
    assert model.log10_prob("sat", ("cat",)) > model.log10_prob("the", ("cat",))


def test_cli_builds_from_transcripts(tmp_path, librispeech_sample):
    out = tmp_path / "sample.arpa"
    proc = run_asr("lm", "build", librispeech_sample, "-o", out, "--order", "2")
    assert proc.returncode == 0, proc.stderr.decode()
    model = read_arpa(str(out))
    assert ("stew",) in model.logprob and model.order == 2
    assert len(read_sentences([str(librispeech_sample)])) == 9
    with pytest.raises(LanguageModelError):
        read_arpa(str(tmp_path / "missing.arpa"))
    bad = run_asr("lm", "build", tmp_path / "nothing.txt", "-o", out)
    assert bad.returncode == 1 and bad.stderr.decode().startswith("asr: error:")
