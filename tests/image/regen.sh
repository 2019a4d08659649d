#!/bin/bash
# Record new expected outputs for the image tier after an intended change
# of format (check the diff before committing):
#   THINPACK=build/thinpack bash tests/image/regen.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export TESTS_DIR=${TESTS_DIR:-$(dirname "$here")} TP_REGEN=1
bash "$here/report-golden.sh"
bash "$here/offline-dryrun-golden.sh"
