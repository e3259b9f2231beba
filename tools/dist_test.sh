#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [ARGS...]
# NPROC processes per node via torchrun; on a machine without GPU the
# processes use the gloo backend. Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT. PYTHON selects the interpreter (default: python).

USAGE="Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [ARGS...]"
if [ "$#" -lt 3 ]; then
    echo "$USAGE" >&2
    exit 2
fi
if ! [[ "$3" =~ ^[1-9][0-9]*$ ]]; then
    echo "NPROC must be a positive integer (processes per node), got '$3'." >&2
    echo "$USAGE" >&2
    exit 2
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
