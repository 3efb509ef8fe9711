#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite plus the linter.
# GUI tests start their own virtual display, so this works with no screen.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/installer/setup.sh"
cd "$REPO"
.venv/bin/ruff check workstation tests
exec .venv/bin/python -m pytest "$@"
