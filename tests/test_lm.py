"""Language models built by KenLM through `asr lm build`: ARPA and binary, metadata beside them,
perplexity, text normalisation, and the errors a user sees."""

import json

import pytest

from asr.lm import LanguageModelError, load_info, lm_vocabulary, normalize_lm_text, perplexity, read_sentences
from conftest import run_asr

TRAIN = [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat ate the fish",
    "on the mat the cat slept", "a bird sang on the log", "the bird ate", "the dog ate the bone",
    "a dog sat", "the fish swam", "the cat sat", "on the log a bird sang",
]
HELD_OUT = ["the cat sat on the log", "a dog sang", "the bird ate the fish on the mat", "zebras sat"]


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("\n".join(TRAIN * 3) + "\n")
    return path


def test_kenlm_builds_arpa_and_binary_with_metadata(text, tmp_path):
    arpa = tmp_path / "lm.arpa"
    proc = run_asr("lm", "build", text, "-o", arpa, "--order", "3")
    assert proc.returncode == 0, proc.stderr.decode()
    body = arpa.read_text()
    assert body.startswith("\\data\\") and "\\3-grams:" in body and "the cat sat" in body
    info = load_info(str(arpa))
    assert info.order == 3 and info.sentences == 36 and info.words == 3 * len(" ".join(TRAIN).split())
    assert int(info.ngrams["1"]) == len(set(" ".join(TRAIN).split())) + 3  # + <s> </s> <unk>
    assert sorted(lm_vocabulary(str(arpa))) == sorted(set(" ".join(TRAIN).split()))

    # a pruned binary with a small vocabulary: 'swam' (seen three times) falls out of it
    binary = tmp_path / "lm.bin"
    proc = run_asr("lm", "build", text, "-o", binary, "--order", "3", "--prune", "0 1 1", "--vocab-size", "12")
    assert proc.returncode == 0, proc.stderr.decode()
    assert binary.read_bytes()[:4] != b"\\dat"  # KenLM binary, not text
    info = load_info(str(binary))
    assert info.prune == [0, 1, 1] and info.vocabulary_size == 12
    assert "swam" not in lm_vocabulary(str(binary)) and "the" in lm_vocabulary(str(binary))
    assert json.loads((tmp_path / "lm.json").read_text())["vocabulary"] == "lm.vocab.txt"

    # KenLM's query scores both: seen text is more probable than new text, and an unknown word counts as OOV
    seen, new = perplexity(str(arpa), TRAIN), perplexity(str(arpa), HELD_OUT)
    assert seen["perplexity"] < new["perplexity"] and new["oov"] == 1 and seen["oov"] == 0
    assert perplexity(str(binary), TRAIN)["perplexity"] > 1


def test_normalisation_reads_numbers_and_abbreviations_and_splits_sentences():
    assert normalize_lm_text("Mr. Smith paid $5.50 on the 21st of May, 1905. It was 10:30!") == [
        "mister smith paid five dollars and fifty cents on the twenty first of may nineteen oh five",
        "it was ten thirty"]
    assert normalize_lm_text("In the 1990s, 45% of U.S. homes had 2.5 cars & 1,200 books.") == [
        "in the nineteen nineties forty five percent of u s homes had two point five cars and twelve hundred books"]
    assert normalize_lm_text("Born in 2008; won in 2015. Café au lait.") == [
        "born in two thousand eight won in twenty fifteen", "cafe au lait"]


def test_cli_builds_from_transcripts_and_reports_errors_in_one_line(tmp_path, librispeech_sample):
    out = tmp_path / "sample.arpa"
    proc = run_asr("lm", "build", librispeech_sample, "-o", out, "--order", "2")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "stew" in lm_vocabulary(str(out)) and load_info(str(out)).order == 2
    assert len(list(read_sentences([str(librispeech_sample)]))) == 9
    for args in (["lm", "build", tmp_path / "nothing.txt", "-o", out],
                 ["lm", "build", librispeech_sample, "-o", tmp_path / "lm.txt"],
                 ["lm", "build", librispeech_sample, "-o", out, "--prune", "1 0"]):
        bad = run_asr(*args)
        err = bad.stderr.decode()
        assert bad.returncode == 1 and err.startswith("asr: error:") and err.count("\n") == 1, err
    with pytest.raises(LanguageModelError):
        perplexity(str(tmp_path / "missing.arpa"), TRAIN)


def test_build_without_kenlm_says_how_to_get_it(text, tmp_path):
    import os

    proc = run_asr("lm", "build", text, "-o", tmp_path / "lm.arpa", env={**os.environ, "ASR_KENLM_BIN": str(tmp_path)})
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("asr: error: KenLM's lmplz is not installed") and ".ci/install" in err
