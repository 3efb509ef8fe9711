#!/bin/sh
# Remove an installation made by install.sh: the files it registered, then its folder.
# Run the copy inside the installed folder, or pass that folder: uninstall.sh [APP_DIR]
set -eu
NAME=surgical-planning-workstation
APP_DIR="${1:-$(cd "$(dirname "$0")" && pwd)}"
LIST="$APP_DIR/installed-files.txt"
if [ ! -f "$LIST" ] || [ ! -x "$APP_DIR/workstation" ]; then
  echo "uninstall.sh: $APP_DIR is not an installation made by install.sh" >&2
  exit 1
fi
while IFS= read -r file; do
  [ -n "$file" ] || continue
  if [ "$(basename "$file")" = workstation ] && [ -L "$file" ]; then
    # the command link is removed only while it still points at this installation
    [ "$(readlink "$file")" = "$APP_DIR/workstation" ] && rm -f "$file"
  else
    rm -f "$file"
  fi
done < "$LIST"
APPLICATIONS="$(dirname "$(sed -n 2p "$LIST")")"
rm -rf "$APP_DIR"
if command -v update-desktop-database >/dev/null 2>&1 && [ -d "$APPLICATIONS" ]; then
  update-desktop-database -q "$APPLICATIONS" || true
fi
echo "Removed $NAME from $APP_DIR"
