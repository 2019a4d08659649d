#!/bin/bash
# vm-args: --disk 320M --disk 2G --disk 320M --env LW_POINTS=0
# Power cuts at every point of `thinpack compact --offline` where one
# could matter: tests/vm/powercut-logwrites.sh with LW_MODE=offline (see
# there), at every point (about 20: offline flushes a few times a batch).
# A SIGKILL (tests/root/offline-crash.sh) leaves the page cache to be
# written; a power cut keeps only what a flush made durable.
LW_MODE=offline
. "$(dirname "$0")/powercut-logwrites.sh"
