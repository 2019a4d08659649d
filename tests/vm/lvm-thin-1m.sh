#!/bin/bash
# vm-args: --disk 1G --env VM_CHUNK=1m
# lvm-thin.sh on a thin pool of 1 MiB chunks (its own default is 64 KiB):
# the two sizes the field meets most.
exec bash "$(dirname "$0")/lvm-thin.sh" "$@"
