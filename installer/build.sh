#!/usr/bin/env bash
# Build the self-contained application: a one-folder PyInstaller bundle of the
# workstation (no Python needed on the target), packed as
#   dist/surgical-planning-workstation-VERSION-linux-x86_64.tar.gz   (install.sh, uninstall.sh)
#   dist/surgical-planning-workstation_VERSION_amd64.deb             (apt install ./…deb)
# Sets up .venv first (installer/setup.sh).  BUNDLE_DIST=DIR puts the two files in DIR.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash installer/setup.sh
PY=.venv/bin/python
NAME=surgical-planning-workstation
VERSION="$("$PY" -c 'import workstation; print(workstation.__version__)')"
DIST="${BUNDLE_DIST:-$REPO/dist}"
WORK="$REPO/build/bundle"
BUNDLE="$REPO/installer/bundle"
START=$(date +%s)

rm -rf "$WORK"
mkdir -p "$WORK/data" "$DIST"

echo "Recording the build and the third-party licences"
COMMIT="$(git rev-parse HEAD 2>/dev/null || true)"
DIRTY=false
if [ -n "$COMMIT" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  DIRTY=true
fi
COMMIT_DATE="$(git log -1 --format=%cI 2>/dev/null || true)"
"$PY" - "$WORK/data/build-info.json" "$VERSION" "$COMMIT" "$DIRTY" "$COMMIT_DATE" <<'PYEOF'
import json, sys
path, version, commit, dirty, date = sys.argv[1:]
info = {"version": version, "commit": commit, "dirty": dirty == "true",
        "commit_date": date, "bundle": "linux-x86_64"}
open(path, "w").write(json.dumps(info, indent=2) + "\n")
PYEOF
"$PY" -m workstation.services.licences "$WORK/data/THIRD-PARTY-LICENSES.txt"

echo "Freezing the application with PyInstaller (a few minutes)"
BUNDLE_DATA="$WORK/data" "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/pyinstaller" "$BUNDLE/workstation.spec"
APP="$WORK/dist/$NAME"
# VTK's libraries carry their symbol tables (a third of their size); nothing needs them.
strip --strip-unneeded "$APP"/_internal/vtkmodules/libvtk*.so

# What the folder holds besides the program: licences, the installer and the desktop entry.
cp LICENSE "$APP/LICENSE"
cp "$WORK/data/THIRD-PARTY-LICENSES.txt" "$APP/THIRD-PARTY-LICENSES.txt"
cp "$BUNDLE/install.sh" "$BUNDLE/uninstall.sh" "$APP/"
mkdir -p "$APP/share"
cp "$BUNDLE/$NAME.desktop" "$APP/share/$NAME.desktop.in"
cp "$BUNDLE/icon.png" "$APP/share/$NAME.png"
"$APP/workstation" --version > /dev/null  # the bundle starts at all

echo "Packing the folder"
TARBALL="$DIST/$NAME-$VERSION-linux-x86_64.tar.gz"
FOLDER="$NAME-$VERSION"
rm -rf "$WORK/pack" && mkdir -p "$WORK/pack" && mv "$APP" "$WORK/pack/$FOLDER"
tar -C "$WORK/pack" --owner=0 --group=0 --numeric-owner -czf "$TARBALL.part" "$FOLDER"
mv "$TARBALL.part" "$TARBALL"

echo "Making the Debian package"
ROOT="$WORK/deb"
rm -rf "$ROOT"
mkdir -p "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
  "$ROOT/usr/share/icons/hicolor/256x256/apps" "$ROOT/usr/share/doc/$NAME" "$ROOT/DEBIAN"
cp -al "$WORK/pack/$FOLDER" "$ROOT/opt/$NAME"  # hard links: no second copy of 1 GB
rm -f "$ROOT/opt/$NAME/install.sh" "$ROOT/opt/$NAME/uninstall.sh"
rm -rf "$ROOT/opt/$NAME/share"
ln -s "/opt/$NAME/workstation" "$ROOT/usr/bin/workstation"
sed "s|@BIN@|/usr/bin/workstation|" "$BUNDLE/$NAME.desktop" > "$ROOT/usr/share/applications/$NAME.desktop"
cp "$BUNDLE/icon.png" "$ROOT/usr/share/icons/hicolor/256x256/apps/$NAME.png"
cp LICENSE "$ROOT/usr/share/doc/$NAME/copyright"
DEPENDS="$("$PY" "$BUNDLE/debian_dependencies.py" "$ROOT/opt/$NAME" | grep -v '^libc6$' | paste -sd, | sed 's/,/, /g')"
INSTALLED_KB="$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)"
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: amd64
Maintainer: Surgical Planning Workstation developers <workstation@localhost>
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= 2.36), $DEPENDS
Recommends: tesseract-ocr, tesseract-ocr-eng, xvfb, xauth
Section: science
Priority: optional
Description: DICOM to exact, printable 3D models and surgical guides
 A desktop workstation that turns DICOM images into geometrically exact 3D
 models a surgeon can plan on, and patient-specific surgical guides ready for
 3D printing. Self-contained: the application brings its own Python and
 libraries under /opt/$NAME; the command is /usr/bin/workstation.
CONTROL
DEB="$DIST/${NAME}_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group -Zgzip --build "$ROOT" "$DEB.part" > /dev/null
mv "$DEB.part" "$DEB"
rm -rf "$ROOT"

echo "Built in $(( $(date +%s) - START )) s:"
echo "  $TARBALL ($(du -h "$TARBALL" | cut -f1))"
echo "  $DEB ($(du -h "$DEB" | cut -f1))"
echo "  unpacked: $(du -sh "$WORK/pack/$FOLDER" | cut -f1) in $WORK/pack/$FOLDER"
