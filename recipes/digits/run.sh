#!/usr/bin/env bash
# Spoken digits from real voices (FSDD subset in ../shared/data/fsdd): prepare, train, decode.
# About a minute on 2 CPU cores. Run from the repository root:
#   bash recipes/digits/run.sh [--stage N] [--stop-stage N]
set -euo pipefail
stage=1; stop_stage=3
fsdd=${FSDD:-../shared/data/fsdd}
data=data/digits
exp=exp/digits
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    *) echo "usage: $0 [--stage N] [--stop-stage N]" >&2; exit 2 ;;
  esac
done
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr" || echo .venv/bin/asr)")/python

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "stage 1: manifests"
  "$py" recipes/digits/prepare.py "$fsdd" "$data"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "stage 2: train"
  resume=""; [ -f "$exp/checkpoint.pt" ] && resume="--resume"
  "$asr" train recipes/digits/conf/train.yaml $resume
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "stage 3: decode"
  for part in test unseen; do
    printf '%s: ' "$part"; "$asr" evaluate "$data/$part.jsonl" --model "$exp/best_model.pt" --decoder greedy
  done
fi
