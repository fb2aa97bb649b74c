#!/usr/bin/env bash
# The general English language model that ships in asr/pretrained (lm.bin, lm.vocab.txt, lm.json,
# LM_CARD.md), built with KenLM from ../shared/data/text. Run from the repository root. Stages:
#   1 normalise the text like transcripts (numbers spoken, letters and apostrophes), one sentence
#     per line -> DATA/text.txt (+ word counts)
#   2 build every candidate of conf/candidates.tsv (order, pruning, vocabulary): size, perplexity on
#     the dev transcripts, dev WER with a quick tuning -> DATA/candidates.tsv
#   3 build the chosen candidate (conf/lm.conf) and install it into asr/pretrained, with the phone
#     lexicon of its vocabulary (lm.phones.txt: CMUdict, else the G2P model) for phone models
#   4 tune the LM weight and word score, then the unknown-word score, on both dev sets against
#     --model (default: the shipped acoustic model); stores them in asr/pretrained/lm.json
#   5 WER with and without the LM on every dev and test set and FSDD, perplexities, words outside the
#     lexicon (recipes/lm/oov.py) -> DATA/results/, and the LM card asr/pretrained/LM_CARD.md
#
#   bash recipes/lm/run.sh [--stage N] [--stop-stage N] [--model PATH] [--data DIR]
#
# After replacing the acoustic model: bash recipes/lm/run.sh --stage 4 --model PATH
# (re-tunes, re-measures and rewrites the card; the LM itself is not rebuilt).
# Needs KenLM's tools (bash .ci/install builds them into .kenlm/bin).
set -euo pipefail
stage=1; stop_stage=5
model=""
data=data/lm
while [ $# -gt 1 ] && [[ $1 =~ ^--(stage|stop-stage|model|data)$ ]]; do
  name=${1#--}; printf -v "${name//-/_}" '%s' "$2"; shift 2
done
[ $# -eq 0 ] || { echo "usage: $0 [--stage N] [--stop-stage N] [--model PATH] [--data DIR]" >&2; exit 2; }
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr")")/python
shared=${SHARED_DATA:-../shared/data}
here=recipes/lm
source $here/conf/lm.conf
pretrained=asr/pretrained
model_args=(); [ -n "$model" ] && model_args=(--model "$model")
dev_sets=("$shared/speech/dev/librispeech" "$shared/speech/dev/speechocean762")
eval_sets=(dev/librispeech dev/speechocean762 test/librispeech test/speechocean762)
mkdir -p "$data"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "== stage 1: normalise $shared/text -> $data/text.txt"
  nice -n 5 "$py" $here/prepare_text.py "$data/text.txt" "$shared"/text/{gutenberg,wikipedia,dialogue}.txt.xz
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "== stage 2: candidates -> $data/candidates.tsv"
  printf 'name\torder\tprune\tvocabulary\tmegabytes\tppl_dev_librispeech\tppl_dev_speechocean762\tdev_wer\tlm_weight\tword_score\n' \
    > "$data/candidates.tsv.tmp"
  grep -v '^#' $here/conf/candidates.tsv | while IFS=$'\t' read -r name order prune vocab; do
    out=$data/candidates/$name.bin
    [ -s "$out" ] || nice -n 5 "$asr" lm build "$data/text.txt" --normalized -o "$out" --order "$order" \
      --prune "$prune" --vocab-size "$vocab"
    ppl=$("$py" $here/perplexity.py "$out" "${dev_sets[@]}")
    tune=$(nice -n 5 "$asr" lm tune "${dev_sets[@]}" "${model_args[@]}" --lm "$out" --lm-weights 1,1.5,2,3 \
      --word-scores 0,1,2 --json | "$py" -c "import json,sys; b=json.load(sys.stdin)['best']; print(f\"{b['wer']:.4f}\t{b['lm_weight']:g}\t{b['word_score']:g}\")")
    printf '%s\t%s\t%s\t%s\t%.1f\t%s\t%s\n' "$name" "$order" "$prune" "$vocab" \
      "$(stat -c %s "$out" | awk '{print $1 / 1e6}')" "$ppl" "$tune" | tee -a "$data/candidates.tsv.tmp"
  done
  mv "$data/candidates.tsv.tmp" "$data/candidates.tsv"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "== stage 3: install candidate $chosen into $pretrained"
  line=$(grep -v '^#' $here/conf/candidates.tsv | awk -F'\t' -v n="$chosen" '$1 == n')
  [ -n "$line" ] || { echo "run.sh: $chosen is not in conf/candidates.tsv" >&2; exit 1; }
  IFS=$'\t' read -r name order prune vocab <<< "$line"
  out=$data/candidates/$name.bin
  [ -s "$out" ] || nice -n 5 "$asr" lm build "$data/text.txt" --normalized -o "$out" --order "$order" \
    --prune "$prune" --vocab-size "$vocab"
  cp "$out" "$pretrained/lm.bin.tmp" && mv "$pretrained/lm.bin.tmp" "$pretrained/lm.bin"
  cp "$data/candidates/$name.vocab.txt" "$pretrained/lm.vocab.txt"
  "$py" $here/lm_card.py install "$data/candidates/$name.json" "$pretrained/lm.json" "$name" "$shared/text/stats.json"
  # phone models decode through the words' pronunciations (CMUdict, else the G2P model of recipes/g2p)
  "$asr" lm lexicon "$pretrained/lm.bin"
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  echo "== stage 4: tune the LM weight, word score and unknown-word score on ${dev_sets[*]}"
  mkdir -p "$data/results"
  nice -n 5 "$asr" lm tune "${dev_sets[@]}" "${model_args[@]}" --lm "$pretrained/lm.bin" --lm-weights "$lm_weights" \
    --word-scores "$word_scores" --unk-scores none --json --save > "$data/results/tune.json"
  read -r weight score < <("$py" -c "import json,sys; b=json.load(open(sys.argv[1]))['best']; print(b['lm_weight'], b['word_score'])" "$data/results/tune.json")
  nice -n 5 "$asr" lm tune "${dev_sets[@]}" "${model_args[@]}" --lm "$pretrained/lm.bin" --lm-weights "$weight" \
    --word-scores "$score" --unk-scores "$unk_scores" --json --save > "$data/results/tune-unk.json"
  "$py" -c "import json,sys; print('stored:', json.load(open(sys.argv[1]))['best'])" "$data/results/tune-unk.json"
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  echo "== stage 5: WER with and without the LM -> $data/results, card -> $pretrained/LM_CARD.md"
  mkdir -p "$data/results"
  for set in "${eval_sets[@]}" fsdd; do
    dir=$shared/speech/$set; [ "$set" = fsdd ] && dir=$shared/fsdd
    tag=${set//\//-}
    nice -n 5 "$asr" evaluate "$dir" "${model_args[@]}" --decoder greedy --json > "$data/results/$tag.greedy.json"
    nice -n 5 "$asr" evaluate "$dir" "${model_args[@]}" --json --hypotheses "$data/results/$tag.lm.tsv" \
      > "$data/results/$tag.lm.json"
    echo "$set: greedy $(cat "$data/results/$tag.greedy.json")"
    echo "$set: default (beam + LM) $(cat "$data/results/$tag.lm.json")"
  done
  "$py" $here/perplexity.py --json "$pretrained/lm.bin" "${dev_sets[@]}" > "$data/results/perplexity.json"
  nice -n 5 "$py" $here/oov.py "$pretrained/lm.bin" "$data/results/oov.json" "${dev_sets[@]}" "${model_args[@]}"
  "$py" $here/lm_card.py card "$pretrained/lm.json" "$data/results" "$pretrained/LM_CARD.md"
fi
