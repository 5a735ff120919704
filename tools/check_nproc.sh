#!/usr/bin/env bash
# Refuse more processes per node than GPUs (a silent hang otherwise); on a
# machine without GPUs, processes run on the CPU with the gloo backend.
NPROC=$1
if ! [[ $NPROC =~ ^[1-9][0-9]*$ ]]; then
  echo "NPROC must be a positive integer, got '$NPROC'" >&2; exit 2
fi
NGPU=$("${PYTHON:-python}" -c 'import torch; print(torch.cuda.device_count())')
if (( NGPU > 0 && NPROC > NGPU )); then
  echo "asked for $NPROC processes but only $NGPU GPUs are visible" >&2; exit 2
fi
