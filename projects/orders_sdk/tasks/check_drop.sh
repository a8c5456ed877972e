#!/usr/bin/env bash
# Fail early when the drop folder is missing; list what arrived (pit runs this with cwd = the run's snapshot).
set -euo pipefail
test -d inbox || { echo "ERROR: no inbox/ folder in the project"; exit 1; }
count=$(ls inbox/*.json 2>/dev/null | wc -l)
echo "inbox holds ${count} export file(s) for run ${PIT_RUN_ID}"
