#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#     tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [ARGS...]
# GPUS tasks in all (one process each), GPUS_PER_NODE per node with
# --gres=gpu:GPUS_PER_NODE. GPUS_PER_NODE=0 requests no GPU: no --gres and
# no --ntasks-per-node (Slurm places the GPUS CPU tasks; SRUN_ARGS can add
# placement options), and the processes use the gloo backend.
# PYTHON selects the interpreter (default: python).
set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}
if [ "$GPUS_PER_NODE" = 0 ]; then
    PLACEMENT=()
else
    PLACEMENT=(--gres=gpu:"${GPUS_PER_NODE}" --ntasks-per-node="${GPUS_PER_NODE}")
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --ntasks="${GPUS}" \
    "${PLACEMENT[@]}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$(dirname "$0")/test.py" "${CONFIG}" "${CHECKPOINT}" \
    --launcher="slurm" "${@:5}"
