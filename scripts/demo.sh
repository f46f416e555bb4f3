#!/usr/bin/env bash
# The main job: set up, then run one nightly cycle (crawl → extract → checks → status report → alerts) over a
# simulated world of county portals served on loopback. Writes demo/nianbao.db, demo/status.html and the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/nianbao demo "$@"
