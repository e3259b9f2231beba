#!/usr/bin/env bash
# The classifier re-training study of docs/results.md on Fashion-MNIST-LT:
# for each stage-1 representation (the demo's CE model, and CE with strong
# weight decay as LORT recommends), imbalance factor and seed, train stage 1
# with tools/train.py, then run every re-training method on its cached
# features with tools/analysis/retrain_classifier.py; finally average the
# seeds with tools/analysis/summarize_retraining.py.
#
# Usage: tools/analysis/retraining_study.sh [WORK_DIR]
#   SEEDS="0 1 2" FACTORS="100 10" REPRESENTATIONS="ce ce-wd5e-3" override
#   the grid; PYTHON selects the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK_DIR=${1:-work_dirs/retraining_study}
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-"0 1 2"}
FACTORS=${FACTORS:-"100 10"}
REPRESENTATIONS=${REPRESENTATIONS:-"ce ce-wd5e-3"}
declare -A CONFIGS=(
    [ce]=configs/demo/ce_smallconvnet_fashion-mnist-lt.py
    [ce-wd5e-3]=configs/retraining/ce-wd5e-3_smallconvnet_fashion-mnist-lt.py
)

"$PYTHON" demo/prepare_fashion_mnist.py
results=()
for rep in $REPRESENTATIONS; do
    config=${CONFIGS[$rep]}
    for factor in $FACTORS; do
        options=()
        for split in train val test; do
            options+=("${split}_dataloader.dataset.imbalance_factor=$factor")
        done
        for seed in $SEEDS; do
            run="$WORK_DIR/$rep/if$factor/seed$seed"
            if [ ! -f "$run/stage1/epoch_30.pth" ]; then
                "$PYTHON" tools/train.py "$config" --work-dir "$run/stage1" \
                    --cfg-options "${options[@]}" randomness.seed="$seed"
            fi
            # One thread: the re-training steps are small, and OpenMP threads
            # spinning on a loaded machine make them many times slower.
            OMP_NUM_THREADS=1 "$PYTHON" tools/analysis/retrain_classifier.py \
                "$config" "$run/stage1/epoch_30.pth" --work-dir "$run/study" \
                --cfg-options "${options[@]}" randomness.seed="$seed"
            results+=("$run/study/results.json")
        done
    done
done
"$PYTHON" tools/analysis/summarize_retraining.py "${results[@]}" \
    --out "$WORK_DIR/summary"
