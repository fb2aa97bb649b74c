#!/usr/bin/env bash
# The case-and-punctuation model that ships in asr/pretrained/punctuation.pt (asr.punctuation): a
# bidirectional GRU tagger over the recogniser's words, trained on the cased, punctuated English of
# ../shared/data/text normalised as LM text is. Run from the repository root. Stages:
#   1 prepare: hold out the last documents of each source (test, validation), label a training sample
#   2 train (2 epochs over 6.7 M words: about 25 min on one core of a busy 2-core machine)
#   3 evaluate the model and the trivial baseline on the held-out documents of each source
#   4 install into asr/pretrained/punctuation.pt with its card (PUNCTUATION_CARD.md)
#
#   bash recipes/punctuation/run.sh [--stage N] [--stop-stage N] [--exp DIR] [--epochs N] [--threads N]
#                                   [--train-words 'DIALOGUE WIKIPEDIA GUTENBERG']
set -euo pipefail
stage=1; stop_stage=4
exp=exp/punctuation
epochs=2
threads=1
train_words="1500000 2500000 2500000"
while [ $# -gt 1 ] && [[ $1 =~ ^--(stage|stop-stage|exp|epochs|threads|train-words)$ ]]; do
  name=${1#--}; printf -v "${name//-/_}" '%s' "$2"; shift 2
done
[ $# -eq 0 ] || { echo "usage: $0 [--stage N] [--stop-stage N] [--exp DIR] [--epochs N] [--threads N] [--train-words 'D W G']" >&2; exit 2; }
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr")")/python
text=${SHARED_DATA:-../shared/data}/text
mkdir -p "$exp"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "== stage 1: label $text -> $exp/data"
  # shellcheck disable=SC2086
  "$py" recipes/punctuation/prepare.py "$exp/data" dialogue="$text/dialogue.txt.xz" \
    wikipedia="$text/wikipedia.txt.xz" gutenberg="$text/gutenberg.txt.xz" --train-words $train_words \
    | tee "$exp/prepare.log"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "== stage 2: train -> $exp/punctuation.pt"
  "$py" recipes/punctuation/train.py "$exp/data" "$exp/punctuation.pt" --epochs "$epochs" --threads "$threads" \
    | tee "$exp/train.log"
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "== stage 3: evaluate on the held-out documents -> $exp/results.{json,md}"
  "$py" recipes/punctuation/evaluate.py "$exp/data" "$exp/punctuation.pt" "$exp/results" --threads "$threads"
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  echo "== stage 4: install $exp/punctuation.pt as asr/pretrained/punctuation.pt, card PUNCTUATION_CARD.md"
  "$py" recipes/punctuation/card.py "$exp/punctuation.pt" "$exp/results.json" asr/pretrained/PUNCTUATION_CARD.md
  cp "$exp/punctuation.pt" asr/pretrained/punctuation.pt
fi
