#!/usr/bin/env bash
# The recipe that makes asr's default model (asr/pretrained/default.pt): a BiLSTM-CTC pretrained on
# synthetic speech (recipes/synthetic) and trained in rounds on the real recorded speech of
# ../shared/data/speech/train (+ three FSDD digit speakers), each round starting from the previous
# round's best model, chosen by greedy WER on the real dev sets. Run from the repository root. Stages:
#   1 manifests: real training speech (speed-perturbed 0.9/1.0/1.1; also unperturbed, and LibriSpeech
#     alone), the real dev sets (model selection)
#   2 pretraining on synthetic speech: recipes/synthetic/run.sh stages 1-4 (skipped with --init)
#   3 training on the real speech, round by round (the list below), from the pretrained model
#   4 decoding: every dev and test set of ../shared/data/speech, the LibriSpeech sample and FSDD,
#     greedy and beam search + the shipped LM (recipes/lm; --lm), beside PocketSphinx on the same
#     audio (decode.py; table.md)
#   5 install the last round's model as asr's default and write its card (asr/pretrained/MODEL_CARD.md)
#
#   bash recipes/default/run.sh [--stage N] [--stop-stage N] [--rounds N] [--config FILE] [--init MODEL|none]
#                               [--data DIR] [--exp DIR] [--limit N] [--lm default|PATH|none]
#                               [--lm-weight W] [--word-score S] [--set KEY=VALUE]...
# Round 1 trains in EXP, round r > 1 in EXP/roundR. --rounds N stops after round N (default: the rounds
# behind the shipped model). --config FILE trains one round of FILE on the speed-perturbed manifest
# instead of the list. --init MODEL starts round 1 from MODEL instead of pretraining (the synthetic-only
# model that asr shipped before this recipe: `git show 0a0b3ef:asr/pretrained/default.pt >
# exp/synthetic-default.pt`); --init none trains from scratch. --limit N keeps the first N utterances
# of each folder (smoke runs: conf/smoke.yaml with --init none --limit 3 runs in about a minute).
# --set applies to every round. Times: recipes/default/README.md.
set -euo pipefail
stage=1; stop_stage=5
# the rounds of stage 3: a config and its training manifests (in DATA/manifests), each round from the last
conf=recipes/default/conf
round_list=(
  "$conf/finetune.yaml train.jsonl"                                 # 2 epochs, speed-perturbed
  "$conf/units.yaml train_nosp.jsonl"                               # 2 epochs, all 14.4 h once each
  "$conf/converge.yaml train.jsonl train_librispeech.jsonl"         # 3 of 4 planned epochs, LibriSpeech twice
  "$conf/anneal.yaml train.jsonl train_librispeech.jsonl"           # 1 of 2 planned epochs, a lower learning rate
  "$conf/weighting.yaml train_nosp.jsonl train_librispeech.jsonl"   # 2 epochs, LibriSpeech 4 times as often
  "$conf/settle.yaml train_nosp.jsonl train_librispeech.jsonl"      # 1 epoch of the same at a low rate
)
rounds=6  # the shipped model: rounds 1-6 (recipes/default/README.md)
config=""
init=""
data=data/real
exp=exp/default
limit=""
lm=default; lm_weight=""; word_score=""
sets=()
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --init) init=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --exp) exp=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --lm) lm=$2; shift 2 ;;
    --lm-weight) lm_weight=$2; shift 2 ;;
    --word-score) word_score=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    *) echo "usage: $0 [--stage N] [--stop-stage N] [--rounds N] [--config FILE] [--init MODEL|none] [--data DIR] [--exp DIR] [--limit N] [--lm default|PATH|none] [--lm-weight W] [--word-score S] [--set K=V]" >&2; exit 2 ;;
  esac
done
[ -n "$config" ] && { round_list=("$config train.jsonl"); rounds=1; }
[[ $rounds =~ ^[1-9]$ ]] && [ "$rounds" -le ${#round_list[@]} ] || \
  { echo "run.sh: --rounds must be 1 to ${#round_list[@]}, got $rounds" >&2; exit 2; }
round_dir() { if [ "$1" = 1 ]; then echo "$exp"; else echo "$exp/round$1"; fi; }
final=$(round_dir "$rounds")  # the model that stages 4 and 5 decode and install
asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr")")/python
shared=${SHARED_DATA:-../shared/data}
speech=$shared/speech
limit_args=(); [ -n "$limit" ] && limit_args=(--limit "$limit")
synthetic_exp=exp/synthetic/default
[ -n "$init" ] || init=$synthetic_exp/round3/best_model.pt  # what stage 2 makes
init_args=(--set "init_from=$init"); [ "$init" = none ] && init_args=(--set "init_from=")

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  echo "== stage 1: manifests in $data/manifests"
  # FSDD speaker 9001 stays out of training: the digits of a speaker the model never heard
  "$asr" prepare "$speech"/train/* "$shared"/fsdd/900[234] -o "$data/manifests/train.jsonl" \
    --speed-perturb 0.9,1,1.1 "${limit_args[@]}"
  "$asr" prepare "$speech"/train/* "$shared"/fsdd/900[234] -o "$data/manifests/train_nosp.jsonl" "${limit_args[@]}"
  "$asr" prepare "$speech"/train/{librispeech,mini_librispeech} -o "$data/manifests/train_librispeech.jsonl" \
    --speed-perturb 0.9,1,1.1 "${limit_args[@]}"
  "$asr" prepare "$speech/dev/librispeech" "$speech/dev/speechocean762" -o "$data/manifests/dev.jsonl" "${limit_args[@]}"
fi
if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  if [ "$init" = "$synthetic_exp/round3/best_model.pt" ] && [ ! -f "$init" ]; then
    echo "== stage 2: pretraining on synthetic speech (recipes/synthetic stages 1-4)"
    bash recipes/synthetic/run.sh --stop-stage 4 --exp "$synthetic_exp"
  else
    echo "== stage 2: pretraining skipped: starting from ${init}"
  fi
fi
if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for ((r = 1; r <= rounds; r++)); do
    read -r round_config manifests <<< "${round_list[r - 1]}"
    out=$(round_dir $r)
    train_data=$(printf "$data/manifests/%s," $manifests); train_data="[${train_data%,}]"
    start=("${init_args[@]}"); [ $r -gt 1 ] && start=(--set "init_from=$(round_dir $((r - 1)))/best_model.pt")
    echo "== stage 3: round $r: $round_config on $train_data -> $out"
    resume=(); [ -f "$out/checkpoint.pt" ] && resume=(--resume)
    "$asr" train "$round_config" --set "train_data=$train_data" --set "valid_data=[$data/manifests/dev.jsonl]" \
      --set "out_dir=$out" "${start[@]}" "${sets[@]}" "${resume[@]}"
  done
fi
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  echo "== stage 4: decoding every dev and test set beside PocketSphinx ($final/results)"
  weights=(); [ -n "$lm_weight" ] && weights+=(--lm-weight "$lm_weight"); [ -n "$word_score" ] && weights+=(--word-score "$word_score")
  "$py" recipes/default/decode.py "$final/best_model.pt" "$final/results" --shared "$shared" --lm "$lm" \
    "${weights[@]}" "${limit_args[@]}"
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  echo "== stage 5: install $final/best_model.pt as asr's default model, with its card"
  cp "$final/best_model.pt" asr/pretrained/default.pt
  "$py" recipes/default/model_card.py "$final" asr/pretrained/MODEL_CARD.md
fi
