#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite plus the linter.
# GUI tests start their own virtual display, so this works with no screen.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/installer/setup.sh"
cd "$REPO"

# Programs only the tests use: PrusaSlicer checks that generated guides are printable;
# Orthanc with its DICOMweb plugin is the real PACS the network tests start on loopback;
# dciodvfy (dicom3tools) validates the DICOM objects we write; desktop-file-validate checks
# the bundle's desktop entry.
TEST_PACKAGES=(prusa-slicer orthanc orthanc-dicomweb dicom3tools poppler-utils desktop-file-utils)
missing=()
for package in "${TEST_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "Installing test programs: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

.venv/bin/ruff check workstation tests
exec .venv/bin/python -m pytest "$@"
