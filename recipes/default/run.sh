#!/usr/bin/env bash
# The recipe that makes asr's default model (asr/pretrained/default.pt): a BiLSTM-CTC pretrained on
# synthetic speech (recipes/synthetic) and trained in rounds on the real recorded speech of
# ../shared/data/speech/train (+ three FSDD digit speakers), each round starting from the previous
# round's best model, chosen by greedy WER on the real dev sets. Run from the repository root. Stages:
#   1 manifests: real training speech (speed-perturbed 0.9/1.0/1.1; also unperturbed, and LibriSpeech
#     alone), the real dev sets (model selection)
#   2 pretraining on synthetic speech: recipes/synthetic/run.sh stages 1-4 (skipped with --init)
#   3 training on the real speech, round by round: rounds.tsv (round, config, manifests, epochs, what
#     it was for), round r in EXP/roundR, from round r-1's best model (round 1 from the pretrained one)
#   4 LM weights: the shipped LM's weight and word score tuned for the last round's model on both dev
#     sets (asr lm tune; EXP/roundR/results/tune.json); skipped with --lm none or --lm-weight
#   5 decoding: every dev and test set of ../shared/data/speech, the LibriSpeech sample and FSDD,
#     greedy and beam search + the LM with those weights, beside PocketSphinx on the same audio
#     (decode.py; table.md)
#   6 install the last round's model as asr's default, store its LM weights in the LM's metadata
#     (asr/pretrained/lm.json), write its card (asr/pretrained/MODEL_CARD.md); then
#     `bash recipes/lm/run.sh --stage 5` re-measures the LM and rewrites its card
#
#   bash recipes/default/run.sh [--stage N] [--stop-stage N] [--rounds N] [--config FILE] [--init MODEL|none]
#                               [--data DIR] [--exp DIR] [--limit N] [--lm default|PATH|none]
#                               [--lm-weight W] [--word-score S] [--set KEY=VALUE]...
# Every round's config is right on its own for the default --data and --exp (data/real, exp/default):
# `asr train recipes/default/conf/settle.yaml` trains round 6 from round 5 where this script would.
# --rounds N stops after round N (default: the rounds behind the shipped model). --config FILE trains
# one round of FILE on the speed-perturbed manifest, in EXP, instead of the table. --init MODEL starts
# round 1 from MODEL instead of pretraining (the synthetic-only model that asr shipped before this
# recipe: `git show 0a0b3ef:asr/pretrained/default.pt > exp/synthetic-default.pt`); --init none trains
# from scratch. --limit N keeps the first N utterances of each folder (smoke runs: conf/smoke.yaml with
# --init none --limit 3 runs in about a minute). --set applies to every round. Times: README.md.
set -euo pipefail
stage=1; stop_stage=6
rounds_table=recipes/default/rounds.tsv
# config and manifests, a round a line (the table's config paths are relative to recipes/default)
mapfile -t round_list < <(tail -n +2 "$rounds_table" | awk -F '\t' '{print "recipes/default/" $2 "\t" $3}')
rounds=${#round_list[@]}  # the shipped model: every round of the table
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
[ -n "$config" ] && { round_list=("$config"$'\t'"train.jsonl"); rounds=1; }
[[ $rounds =~ ^[1-9]$ ]] && [ "$rounds" -le ${#round_list[@]} ] || \
  { echo "run.sh: --rounds must be 1 to ${#round_list[@]}, got $rounds" >&2; exit 2; }
round_dir() { if [ -n "$config" ]; then echo "$exp"; else echo "$exp/round$1"; fi; }
final=$(round_dir "$rounds")  # the model that stages 4-6 tune for, decode and install
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
    IFS=$'\t' read -r round_config manifests <<< "${round_list[r - 1]}"
    out=$(round_dir $r)
    train_data=$(printf "$data/manifests/%s," ${manifests//,/ }); train_data="[${train_data%,}]"
    start=("${init_args[@]}"); [ $r -gt 1 ] && start=(--set "init_from=$(round_dir $((r - 1)))/best_model.pt")
    echo "== stage 3: round $r: $round_config on $train_data -> $out"
    resume=(); [ -f "$out/checkpoint.pt" ] && resume=(--resume)
    "$asr" train "$round_config" --set "train_data=$train_data" --set "valid_data=[$data/manifests/dev.jsonl]" \
      --set "out_dir=$out" "${start[@]}" "${sets[@]}" "${resume[@]}"
  done
fi
dev_sets=("$speech/dev/librispeech" "$speech/dev/speechocean762")
lm_args=(); [ "$lm" != default ] && lm_args=(--lm "$lm")
tuned=$final/results/tune.json
if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  if [ "$lm" = none ] || [ -n "$lm_weight$word_score" ]; then
    echo "== stage 4: LM weights not tuned (--lm none, or given)"
  else
    echo "== stage 4: the LM's weight and word score tuned for $final/best_model.pt on both dev sets ($tuned)"
    mkdir -p "$final/results"
    "$asr" lm tune "${dev_sets[@]}" --model "$final/best_model.pt" "${lm_args[@]}" --lm-weights 1.5,2,2.5 \
      --word-scores 0,1,2 --unk-scores none --json > "$tuned.tmp" && mv "$tuned.tmp" "$tuned"
  fi
fi
if [ -z "$lm_weight$word_score" ] && [ -f "$tuned" ]; then  # the weights stage 4 tuned for this model
  read -r lm_weight word_score < <("$py" -c "import json,sys; b=json.load(open(sys.argv[1]))['best']; print(b['lm_weight'], b['word_score'])" "$tuned")
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  echo "== stage 5: decoding every dev and test set beside PocketSphinx ($final/results)"
  weights=(); [ -n "$lm_weight" ] && weights+=(--lm-weight "$lm_weight"); [ -n "$word_score" ] && weights+=(--word-score "$word_score")
  "$py" recipes/default/decode.py "$final/best_model.pt" "$final/results" --shared "$shared" --lm "$lm" \
    "${weights[@]}" "${limit_args[@]}"
fi
if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  echo "== stage 6: install $final/best_model.pt as asr's default model, with its LM weights and card"
  cp "$final/best_model.pt" asr/pretrained/default.pt
  if [ "$lm" != none ] && [ -n "$lm_weight" ]; then  # stored as the LM's defaults (one more pass over dev)
    "$asr" lm tune "${dev_sets[@]}" "${lm_args[@]}" --lm-weights "$lm_weight" --word-scores "${word_score:-0}" \
      --unk-scores none --save
  fi
  "$py" recipes/default/model_card.py "$final" asr/pretrained/MODEL_CARD.md
fi
