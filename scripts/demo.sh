#!/usr/bin/env bash
# The main job: set up, then run nianbao's demo over the bundled sample reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/nianbao demo "$@"
