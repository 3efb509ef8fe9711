#!/usr/bin/env bash
# Set up (if needed) and open the workstation on the bundled sample study.
# Extra arguments are passed to `workstation` (e.g. `view /path/to/dicom`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/installer/setup.sh"
exec "$REPO/.venv/bin/workstation" "$@"
