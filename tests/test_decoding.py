"""Beam search (lexicon-free and with an n-gram LM), hotwords, n-best and JSON/SRT output via the CLI."""

import json

from conftest import MEMORISE_IDS, run_asr

DIGITS = "zero one two three four five six seven eight nine".split()


def test_beam_search_lm_hotwords_and_outputs(trained_model, digits_corpus, tmp_path):
    files = [digits_corpus / "9001" / "1" / f"{u}.flac" for u in MEMORISE_IDS]
    greedy = run_asr("transcribe", "-m", trained_model, *files)
    beam = run_asr("transcribe", "-m", trained_model, "--decoder", "beam", "--beam-size", "16", *files)
    assert greedy.returncode == 0 and beam.returncode == 0, beam.stderr.decode()
    assert beam.stdout == greedy.stdout  # lexicon-free beam agrees with greedy on a confident model

    # an LM that has never seen 'seven': the lexicon cannot spell it ...
    text = tmp_path / "text.txt"
    text.write_text("\n".join(d for d in DIGITS if d != "seven") + "\n")
    lm = tmp_path / "digits.arpa"
    assert run_asr("lm", "build", text, "-o", lm, "--order", "2").returncode == 0
    seven = files[7]
    without = run_asr("transcribe", "-m", trained_model, "--decoder", "beam", "--lm", lm, "--word-score", "1", seven)
    assert without.returncode == 0, without.stderr.decode()
    assert without.stdout.decode().strip() != "seven"
    # ... until it is given as a hotword (--lm alone turns beam search on)
    boosted = run_asr("transcribe", "-m", trained_model, "--lm", lm, "--word-score", "1", "--hotword", "seven:3", seven)
    assert boosted.stdout.decode().strip() == "seven", boosted.stderr.decode()
    clash = run_asr("transcribe", "-m", trained_model, "--decoder", "greedy", "--lm", lm, seven)
    assert clash.returncode == 2 and "--lm needs beam search" in clash.stderr.decode()

    out = tmp_path / "out"
    proc = run_asr("transcribe", "-m", trained_model, "--nbest", "3", "-f", "all", "-o", out, files[2])
    assert proc.returncode == 0, proc.stderr.decode()
    stem = files[2].stem
    result = json.loads((out / f"{stem}.json").read_text())
    assert result["text"] == "two" and result["decoder"] == "beam" and result["beam_size"] == 32
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
    proc = run_asr("transcribe", "-m", trained_model, "--decoder", "beam", "--lm", bad, seven)
    err = proc.stderr.decode()
    assert proc.returncode == 1 and err.startswith("asr: error:") and "Traceback" not in err and err.count("\n") == 1
