#!/usr/bin/env bash
# LibriSpeech (OpenSLR 12): download, prepare manifests, train, decode. See recipes/librispeech/README.md.
# Run from the repository root:
#   bash recipes/librispeech/run.sh [--stage N] [--stop-stage N] [--data DIR]
#        [--train-set train-clean-100|train-460|train-960] [--base-url URL]
#        [--lm 3-gram.pruned.1e-7.arpa.gz] [--lm-base-url URL] [--checksums FILE]
# Stages: 1 download + extract, 2 manifests, 3 train, 4 decode dev/test (greedy),
# 5 download the official n-gram LM (OpenSLR 11) and lower-case it for asr's vocabulary,
# 6 beam search + LM: tune lm_weight/word_score on dev-clean, decode dev/test.
# Every stage skips the work already done, so the script can be re-run after an interruption.
set -euo pipefail
stage=1; stop_stage=6
data=data/librispeech
train_set=train-clean-100
base_url=https://www.openslr.org/resources/12
lm_base_url=https://www.openslr.org/resources/11
lm_name=3-gram.pruned.1e-7.arpa.gz
checksums=()
usage="usage: $0 [--stage N] [--stop-stage N] [--data DIR] [--train-set train-clean-100|train-460|train-960] [--base-url URL] [--lm NAME] [--lm-base-url URL] [--checksums FILE]"
while [ $# -gt 0 ]; do
  case $1 in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --train-set) train_set=$2; shift 2 ;;
    --base-url) base_url=$2; shift 2 ;;
    --lm) lm_name=$2; shift 2 ;;
    --lm-base-url) lm_base_url=$2; shift 2 ;;
    --checksums) checksums=(--checksums "$2"); shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case $train_set in
  train-clean-100) train_parts="train-clean-100" ;;
  train-460) train_parts="train-clean-100 train-clean-360" ;;
  train-960) train_parts="train-clean-100 train-clean-360 train-other-500" ;;
  *) echo "$0: --train-set must be train-clean-100, train-460 or train-960, got $train_set" >&2; exit 2 ;;
esac
eval_sets="dev-clean dev-other test-clean test-other"
conf=recipes/librispeech/conf/$train_set.yaml
exp=exp/librispeech/$train_set
manifests=$data/manifests

asr=${ASR:-asr}
command -v "$asr" >/dev/null || asr=.venv/bin/asr
py=$(dirname "$(command -v "$asr" || echo .venv/bin/asr)")/python

# The configs name data/librispeech/manifests/...; these overrides follow --data.
yaml_list() { local out="" m; for m in "$@"; do out+="${out:+, }\"$manifests/$m.jsonl\""; done; echo "[$out]"; }
train_list=$(yaml_list $train_parts)
valid_list=$(yaml_list dev-clean dev-other)

# Training is finished when train_log.jsonl records the config's last epoch and best_model.pt
# exists (Ctrl-C makes `asr train` save a checkpoint and exit 0 in mid-training).
train_finished() {
  [ -f "$exp/best_model.pt" ] || { echo no; return; }
  "$py" - "$conf" "$exp/train_log.jsonl" <<'EOF'
import json, os, sys
from asr.config import load_config
from asr.train import TrainConfig
epochs = load_config(TrainConfig, sys.argv[1]).epochs
log = sys.argv[2]
records = [json.loads(l) for l in open(log, encoding="utf-8") if l.strip()] if os.path.exists(log) else []
print("yes" if records and records[-1].get("epoch", 0) >= epochs else "no")
EOF
}

# results_table SUFFIX SUBSET...: WER/CER/RTF of $exp/decode/SUBSET$SUFFIX.json
results_table() {
  "$py" - "$exp/decode" "$@" <<'EOF'
import json, os, sys
folder, suffix, subsets = sys.argv[1], sys.argv[2], sys.argv[3:]
print("subset       WER %   CER %   utterances   RTF")
for s in subsets:
    r = json.load(open(os.path.join(folder, s + suffix + ".json")))
    print(f"{s:<12} {100 * r['wer']:6.2f}  {100 * r['cer']:6.2f}   {r['utterances']:10d}   {r['rtf']:.4f}")
EOF
}

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  echo "stage 1: download and extract to $data/LibriSpeech"
  "$py" recipes/librispeech/download.py --data-dir "$data" --base-url "$base_url" "${checksums[@]}" $train_parts $eval_sets
fi
if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "stage 2: manifests in $manifests"
  for subset in $train_parts $eval_sets; do
    if [ -s "$manifests/$subset.jsonl" ]; then
      echo "$subset: $manifests/$subset.jsonl exists, skipped"
    else
      "$asr" prepare "$data/LibriSpeech/$subset" -o "$manifests/$subset.jsonl"
    fi
  done
fi
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "stage 3: train $conf -> $exp"
  if [ "$(train_finished)" = yes ]; then
    echo "$exp: training finished earlier ($exp/train_log.jsonl), skipped"
  else
    resume=""; [ -f "$exp/checkpoint.pt" ] && resume="--resume"
    "$asr" train "$conf" $resume --set "out_dir=$exp" --set "train_data=$train_list" --set "valid_data=$valid_list"
    if [ "$(train_finished)" != yes ]; then
      echo "$0: training stopped before its last epoch; run stage 3 again to resume it" >&2
      exit 1
    fi
  fi
fi
if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "stage 4: decode -> $exp/decode"
  if [ "$(train_finished)" != yes ]; then
    echo "$0: $exp has no finished training (run stage 3 first); not decoding a half-trained model" >&2
    exit 1
  fi
  mkdir -p "$exp/decode"
  for subset in $eval_sets; do
    out=$exp/decode/$subset.json
    if [ -s "$out" ]; then
      echo "$subset: $out exists, skipped"
    else
      "$asr" evaluate "$manifests/$subset.jsonl" --model "$exp/best_model.pt" --decoder greedy --json \
        --hypotheses "$exp/decode/$subset.hyp.tsv" > "$out.tmp"
      mv "$out.tmp" "$out"
    fi
  done
  results_table "" $eval_sets
fi
lm_arpa=$data/lm/${lm_name%.gz}
lm_arpa=${lm_arpa%.arpa}.lower.arpa
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  echo "stage 5: language model $lm_name -> $lm_arpa"
  if [ -s "$lm_arpa" ]; then
    echo "$lm_arpa exists, skipped"
  else
    "$py" recipes/librispeech/download.py --data-dir "$data" --lm-base-url "$lm_base_url" "${checksums[@]}" "$lm_name"
    # LibriSpeech's models are upper case; asr's vocabulary is lower case (ARPA keywords already are).
    gzip -dc "$data/lm/$lm_name" | tr '[:upper:]' '[:lower:]' > "$lm_arpa.tmp"
    mv "$lm_arpa.tmp" "$lm_arpa"
  fi
fi
if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  echo "stage 6: beam search + $lm_arpa -> $exp/decode/*.beam-lm.json"
  if [ "$(train_finished)" != yes ]; then
    echo "$0: $exp has no finished training (run stage 3 first)" >&2
    exit 1
  fi
  tune=$exp/decode/lm-tune-dev-clean.json
  [ -s "$tune" ] || { "$asr" lm tune "$manifests/dev-clean.jsonl" --model "$exp/best_model.pt" --lm "$lm_arpa" --json > "$tune.tmp" && mv "$tune.tmp" "$tune"; }
  read -r weight score < <("$py" -c "import json,sys; b=json.load(open(sys.argv[1]))['best']; print(b['lm_weight'], b['word_score'])" "$tune")
  for subset in $eval_sets; do
    out=$exp/decode/$subset.beam-lm.json
    [ -s "$out" ] && { echo "$subset: $out exists, skipped"; continue; }
    "$asr" evaluate "$manifests/$subset.jsonl" --model "$exp/best_model.pt" --decoder beam --lm "$lm_arpa" \
      --lm-weight "$weight" --word-score "$score" --json --hypotheses "$exp/decode/$subset.beam-lm.tsv" > "$out.tmp"
    mv "$out.tmp" "$out"
  done
  echo "lm_weight $weight, word_score $score (tuned on dev-clean)"
  results_table .beam-lm $eval_sets
fi
