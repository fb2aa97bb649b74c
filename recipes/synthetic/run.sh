#!/usr/bin/env bash
# Offline recipe: build a speech corpus from Debian's text-to-speech engines, train, decode. Its model
# is the pretraining stage of recipes/default, which fine-tunes it on real speech into asr's default
# model. Run from the repository root. Stages:
#   1 build corpus (train/dev/test split by voice and by sentence; for each later training round
#     a fresh training corpus, seed + round - 1)                      2 manifests
#   3 language model from the training text only                     4 train: round 1 (--config),
#     then each later round (--continue-config) from the previous round's best model on its own corpus
#   5 decode: greedy on the unseen voices and the real recordings; beam + LM (tuned on dev) on the unseen voices
#   6 write the model's card (EXP/MODEL_CARD.md for the last round)
#
#   bash recipes/synthetic/run.sh [--stage N] [--stop-stage N] [--hours H] [--config FILE]
#                                 [--rounds N] [--continue-config FILE] [--data DIR] [--exp DIR]
#                                 [--seed N] [--set KEY=VALUE]...
# Defaults rebuild the synthetic model that recipes/default starts from: 3 rounds of 16 h of audio each, 24 + 15 + 15
# epochs; expected times in recipes/synthetic/README.md (minutes on a GPU, hours on 2 CPU cores).
# --hours 0.02 with conf/smoke.yaml and conf/smoke-continue.yaml runs in about two minutes.
# --set applies to every round.
set -euo pipefail
stage=1; stop_stage=5
hours=16; seed=1
config=recipes/synthetic/conf/default.yaml
continue_config=recipes/synthetic/conf/continue.yaml
rounds=3
data=data/synthetic
exp=""
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --hours) hours=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --continue-config) continue_config=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "usage: $0 [--stage N] [--stop-stage N] [--hours H] [--config FILE] [--rounds N] [--continue-config FILE] [--data DIR] [--exp DIR] [--seed N] [--set K=V]" >&2; exit 2 ;;
  esac
done
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr")")/python
shared=${SHARED_DATA:-../shared/data}
overrides=(--set "train_data=[$data/manifests/train.jsonl]" --set "valid_data=[$data/manifests/dev.jsonl]" "${sets[@]}")
[ -n "$exp" ] && overrides+=(--set "out_dir=$exp")
[ -n "$exp" ] || exp=$("$py" -c "import sys; from asr.config import load_config; from asr.train import TrainConfig; print(load_config(TrainConfig, sys.argv[1], sys.argv[2:]).out_dir)" "$config" "train_data=[x]")
[[ $rounds =~ ^[1-9]$ ]] || { echo "run.sh: --rounds must be 1 to 9, got $rounds" >&2; exit 2; }
round_dir() { if [ "$1" = 1 ]; then echo "$exp"; else echo "$exp/round$1"; fi; }
final=$(round_dir "$rounds")  # the model that stages 5 and 6 decode and install

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "== stage 1: build corpus ($hours h of training audio, seed $seed) in $data"
  "$py" recipes/synthetic/build_corpus.py "$data" --hours "$hours" --seed "$seed"
  for ((r = 2; r <= rounds; r++)); do
    echo "== stage 1: training corpus for round $r ($hours h, seed $((seed + r - 1))) in $data/round$r"
    "$py" recipes/synthetic/build_corpus.py "$data/round$r" --hours "$hours" --seed $((seed + r - 1)) --splits train
  done
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  echo "== stage 2: manifests"
  for part in train dev test; do
    "$asr" prepare "$data/$part" -o "$data/manifests/$part.jsonl"
  done
  for ((r = 2; r <= rounds; r++)); do
    "$asr" prepare "$data/round$r/train" -o "$data/manifests/train-round$r.jsonl"
  done
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  echo "== stage 3: trigram language model from the training sentences"
  "$asr" lm build "$data/train/lm_text.txt" -o "$data/lm/lm3.arpa" --order 3
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  echo "== stage 4: train round 1 ($config -> $exp)"
  resume=(); [ -f "$exp/checkpoint.pt" ] && resume=(--resume)
  "$asr" train "$config" "${overrides[@]}" "${resume[@]}"
  for ((r = 2; r <= rounds; r++)); do
    from=$(round_dir $((r - 1))); to=$(round_dir $r)
    echo "== stage 4: train round $r ($continue_config -> $to, from $from/best_model.pt)"
    resume=(); [ -f "$to/checkpoint.pt" ] && resume=(--resume)
    "$asr" train "$continue_config" "${overrides[@]}" --set "train_data=[$data/manifests/train-round$r.jsonl]" \
      --set "init_from=$from/best_model.pt" --set "out_dir=$to" "${resume[@]}"
  done
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  echo "== stage 5: decode"
  mkdir -p "$final/results"
  declare -A sets_to_decode=(
    [test-unseen-voices]="$data/manifests/test.jsonl"
    [librispeech-sample]="$shared/librispeech-sample"
    [fsdd-digits]="$shared/fsdd"
  )
  for name in test-unseen-voices librispeech-sample fsdd-digits; do
    src=${sets_to_decode[$name]}
    if [ -e "$src" ]; then
      printf '%s greedy: ' "$name"
      "$asr" evaluate "$src" --model "$final/best_model.pt" --decoder greedy --json --hypotheses "$final/results/$name.greedy.tsv" \
        | tee "$final/results/$name.greedy.json"
    fi
  done
  for ((r = 1; r < rounds; r++)); do  # earlier rounds: how much each round added
    earlier=$(round_dir $r); mkdir -p "$earlier/results"
    printf 'round %s test-unseen-voices greedy: ' "$r"
    "$asr" evaluate "$data/manifests/test.jsonl" --model "$earlier/best_model.pt" --decoder greedy --json \
      --hypotheses "$earlier/results/test-unseen-voices.greedy.tsv" | tee "$earlier/results/test-unseen-voices.greedy.json"
  done
  "$asr" lm tune "$data/manifests/dev.jsonl" --model "$final/best_model.pt" --lm "$data/lm/lm3.arpa" --json \
    > "$final/results/lm-tune-dev.json"
  read -r weight score < <("$py" -c "import json,sys; b=json.load(open(sys.argv[1]))['best']; print(b['lm_weight'], b['word_score'])" "$final/results/lm-tune-dev.json")
  printf 'test-unseen-voices beam+LM (lm_weight %s, word_score %s): ' "$weight" "$score"
  "$asr" evaluate "$data/manifests/test.jsonl" --model "$final/best_model.pt" --decoder beam --lm "$data/lm/lm3.arpa" \
    --lm-weight "$weight" --word-score "$score" --json --hypotheses "$final/results/test-unseen-voices.beam-lm.tsv" \
    | tee "$final/results/test-unseen-voices.beam-lm.json"
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "== stage 6: model card of $final/best_model.pt -> $final/MODEL_CARD.md"
  "$py" recipes/synthetic/model_card.py "$final" "$data" "$final/MODEL_CARD.md" \
    $(for ((r = 1; r < rounds; r++)); do round_dir $r; done)
fi
