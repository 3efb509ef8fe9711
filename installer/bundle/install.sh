#!/bin/sh
# Install the Surgical Planning Workstation from this folder and register its desktop entry.
#   as root:      /opt/surgical-planning-workstation, /usr/local/bin, /usr/local/share
#   as a user:    ~/.local/opt/surgical-planning-workstation, ~/.local/bin, ~/.local/share
#   --prefix DIR: DIR/opt/surgical-planning-workstation, DIR/bin, DIR/share
# An earlier installation in the same place is replaced only once the new copy is complete.
set -eu
NAME=surgical-planning-workstation
HERE="$(cd "$(dirname "$0")" && pwd)"

usage() { echo "usage: $0 [--prefix DIR]" >&2; exit 2; }
PREFIX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || usage; PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) usage ;;
  esac
done
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"; PREFIX="$(cd "$PREFIX" && pwd)"
  APP_DIR="$PREFIX/opt/$NAME"; BIN_DIR="$PREFIX/bin"; SHARE_DIR="$PREFIX/share"
elif [ "$(id -u)" -eq 0 ]; then
  APP_DIR="/opt/$NAME"; BIN_DIR=/usr/local/bin; SHARE_DIR=/usr/local/share
else
  APP_DIR="$HOME/.local/opt/$NAME"; BIN_DIR="$HOME/.local/bin"
  SHARE_DIR="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
if [ ! -x "$HERE/workstation" ] || [ ! -d "$HERE/_internal" ]; then
  echo "install.sh: run it from the unpacked application folder (workstation and _internal are missing)" >&2
  exit 1
fi
if [ "$HERE" = "$APP_DIR" ]; then
  echo "install.sh: the application is already installed in $APP_DIR" >&2
  exit 1
fi

mkdir -p "$(dirname "$APP_DIR")" "$BIN_DIR" "$SHARE_DIR/applications" \
  "$SHARE_DIR/icons/hicolor/256x256/apps"
STAGING="$APP_DIR.new.$$"
trap 'rm -rf "$STAGING"' EXIT INT TERM
cp -a "$HERE/." "$STAGING"
rm -f "$STAGING/install.sh"
if [ -d "$APP_DIR" ]; then
  rm -rf "$APP_DIR.old.$$"
  mv "$APP_DIR" "$APP_DIR.old.$$"
fi
mv "$STAGING" "$APP_DIR"
rm -rf "$APP_DIR.old.$$"
trap - EXIT INT TERM

ln -sfn "$APP_DIR/workstation" "$BIN_DIR/workstation"
sed "s|@BIN@|$APP_DIR/workstation|" "$HERE/share/$NAME.desktop.in" > "$SHARE_DIR/applications/$NAME.desktop"
cp "$HERE/share/$NAME.png" "$SHARE_DIR/icons/hicolor/256x256/apps/$NAME.png"
{
  echo "$BIN_DIR/workstation"
  echo "$SHARE_DIR/applications/$NAME.desktop"
  echo "$SHARE_DIR/icons/hicolor/256x256/apps/$NAME.png"
} > "$APP_DIR/installed-files.txt"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$SHARE_DIR/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$SHARE_DIR/icons/hicolor/index.theme" ]; then
  gtk-update-icon-cache -q -t "$SHARE_DIR/icons/hicolor" || true
fi
echo "Installed in $APP_DIR; the command is $BIN_DIR/workstation; remove it with $APP_DIR/uninstall.sh"
case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "Note: $BIN_DIR is not on your PATH." ;; esac
