#!/bin/bash
# vm-args: --disk 1G --env VM_CHUNK=192k
# lvm-thin.sh on a thin pool of 192 KiB chunks: LVM takes any multiple of
# 64 KiB, and the grid is then no power of two.
exec bash "$(dirname "$0")/lvm-thin.sh" "$@"
