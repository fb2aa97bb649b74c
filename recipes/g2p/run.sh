#!/usr/bin/env bash
# The grapheme-to-phoneme model that ships in asr/pretrained/g2p.pt: pronunciations, in the 39 ARPAbet
# phones of CMUdict, of words CMUdict does not have (a phone model's LM vocabulary, hotwords, training
# transcripts). Run from the repository root. Stages:
#   1 train on CMUdict (../shared/data/lexicon) minus 2,000 held-out words; print their phone error rate
#   2 install into asr/pretrained/g2p.pt
#
#   bash recipes/g2p/run.sh [--stage N] [--stop-stage N] [--exp DIR] [--epochs N] [--threads N]
set -euo pipefail
stage=1; stop_stage=2
exp=exp/g2p
epochs=8
threads=0
while [ $# -gt 1 ] && [[ $1 =~ ^--(stage|stop-stage|exp|epochs|threads)$ ]]; do
  name=${1#--}; printf -v "${name//-/_}" '%s' "$2"; shift 2
done
[ $# -eq 0 ] || { echo "usage: $0 [--stage N] [--stop-stage N] [--exp DIR] [--epochs N] [--threads N]" >&2; exit 2; }
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr")")/python
shared=${SHARED_DATA:-../shared/data}
mkdir -p "$exp"

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "== stage 1: train on $shared/lexicon/cmudict.dict.xz -> $exp/g2p.pt"
  "$py" recipes/g2p/train.py "$shared/lexicon/cmudict.dict.xz" "$exp/g2p.pt" --epochs "$epochs" \
    --threads "$threads" | tee "$exp/train.log"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "== stage 2: install $exp/g2p.pt as asr/pretrained/g2p.pt"
  cp "$exp/g2p.pt" asr/pretrained/g2p.pt
fi
