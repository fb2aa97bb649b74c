"""Beam search (lexicon-free and with an n-gram LM), hotwords, n-best and JSON/SRT output via the CLI."""

import json

from conftest import MEMORISE_IDS, run_asr

DIGITS = "zero one two three four five six seven eight nine".split()


def test_beam_search_lm_hotwords_and_outputs(trained_model, digits_corpus, tmp_path):
    files = [digits_corpus / "9001" / "1" / f"{u}.flac" for u in MEMORISE_IDS]
    greedy = run_asr("transcribe", "-m", trained_model, "--decoder", "greedy", *files)
    beam = run_asr("transcribe", "-m", trained_model, "--decoder", "beam", "--lm", "none", "--beam-size", "16", *files)
    assert greedy.returncode == 0 and beam.returncode == 0, beam.stderr.decode()
    assert beam.stdout == greedy.stdout  # lexicon-free beam agrees with greedy on a confident model

    # an LM that has never seen 'seven': the lexicon cannot spell it ...
    text = tmp_path / "text.txt"
    text.write_text("\n".join(d for d in DIGITS if d != "seven") + "\n")
    lm = tmp_path / "digits.arpa"
    assert run_asr("lm", "build", text, "-o", lm, "--order", "2").returncode == 0
    seven = files[7]
    plain = ["transcribe", "--no-punctuation", "-m", trained_model]  # the recogniser's words as they are
    without = run_asr(*plain, "--decoder", "beam", "--lm", lm, "--word-score", "1", seven)
    assert without.returncode == 0, without.stderr.decode()
    assert without.stdout.decode().strip() != "seven"
    # ... unless words outside the vocabulary may be spelled letter by letter (the unknown-word path)
    spelled = run_asr(*plain, "--lm", lm, "--word-score", "1", "--unk-score", "0", seven)
    assert spelled.stdout.decode().strip() == "seven", spelled.stderr.decode()
    # ... until it is given as a hotword (--lm alone turns beam search on)
    boosted = run_asr(*plain, "--lm", lm, "--word-score", "1", "--hotword", "seven:3", seven)
    assert boosted.stdout.decode().strip() == "seven", boosted.stderr.decode()
    clash = run_asr("transcribe", "-m", trained_model, "--decoder", "greedy", "--lm", lm, seven)
    assert clash.returncode == 2 and "--lm needs beam search" in clash.stderr.decode()

    out = tmp_path / "out"
    proc = run_asr(*plain, "--lm", "none", "--nbest", "3", "-f", "all", "-o", out, files[2])
    assert proc.returncode == 0, proc.stderr.decode()
    stem = files[2].stem
    result = json.loads((out / f"{stem}.json").read_text())
    assert result["text"] == "two" and result["decoder"] == "beam" and result["beam_size"] == 192
    seg = result["segments"][0]
    assert len(seg["nbest"]) == 3 and seg["nbest"][0]["text"] == "two" != seg["nbest"][1]["text"]
    assert seg["nbest"][0]["score"] >= seg["nbest"][1]["score"] >= seg["nbest"][2]["score"]
    word = seg["words"][0]
    assert word["word"] == "two" and 0 <= word["start"] < word["end"] <= result["duration"] + 0.05
    assert 0 < word["confidence"] <= 1
    assert (out / f"{stem}.srt").read_text().startswith("1\n00:00:00,000 --> 00:00:00,")
    assert (out / f"{stem}.txt").read_text() == "two\n"

    bad = tmp_path / "bad.arpa"
    bad.write_text("not an arpa file\n")
    proc = run_asr("transcribe", "-m", trained_model, "--lm", bad, seven)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.startswith("asr: error:") and "Traceback" not in err and err.count("\n") == 1


def test_default_decoding_is_beam_search_with_the_shipped_lm(librispeech_sample, tmp_path):
    """With no options, `asr transcribe` and the Python API decode with the shipped LM and the weights stored
    beside it; --lm none and --decoder greedy switch it off."""
    from asr.decoding import DEFAULT_LM_PATH, Decoder, DecoderConfig
    from asr.lm import lm_vocabulary, load_info
    from asr.text import Vocabulary

    info = load_info(DEFAULT_LM_PATH)
    assert info is not None and info.vocabulary_size >= 50000, "the package ships asr/pretrained/lm.bin + lm.json"
    cfg = Decoder(Vocabulary()).config  # the Python API's default
    assert (cfg.kind, cfg.lm, cfg.lm_weight, cfg.word_score) == ("beam", DEFAULT_LM_PATH, info.lm_weight, info.word_score)
    overridden = DecoderConfig(lm_weight=0.0, word_score=-1.0).resolved()
    assert (overridden.lm, overridden.lm_weight, overridden.word_score) == (DEFAULT_LM_PATH, 0.0, -1.0)
    assert DecoderConfig(lm="none").resolved().kind == "greedy" == DecoderConfig(kind="greedy").resolved().kind

    wav = sorted(librispeech_sample.rglob("*.flac"))[0]
    default = run_asr("transcribe", "--no-punctuation", "-f", "json", "-o", tmp_path / "default", wav)
    assert default.returncode == 0, default.stderr.decode()
    result = json.loads((tmp_path / "default" / f"{wav.stem}.json").read_text())
    assert result["decoder"] == "beam" and result["lm"] == DEFAULT_LM_PATH
    assert (result["lm_weight"], result["word_score"]) == (info.lm_weight, info.word_score)
    words = result["text"].split()
    assert words and (info.unk_score is not None or set(words) <= set(lm_vocabulary(DEFAULT_LM_PATH)))
    assert default.stdout.decode().strip() == result["text"]

    greedy = run_asr("transcribe", "--decoder", "greedy", wav)
    no_lm = run_asr("transcribe", "--lm", "none", "-f", "json", "-o", tmp_path / "none", wav)
    assert greedy.returncode == 0 and no_lm.returncode == 0, no_lm.stderr.decode()
    plain = json.loads((tmp_path / "none" / f"{wav.stem}.json").read_text())
    assert plain["decoder"] == "greedy" and "lm" not in plain
    assert greedy.stdout == no_lm.stdout

    evaluated = run_asr("evaluate", librispeech_sample / "dev-clean", "--json")
    summary = json.loads(evaluated.stdout)
    assert summary["decoder"] == "beam" and summary["lm"] == DEFAULT_LM_PATH and summary["utterances"] == 1
