#!/bin/sh
# Install a demixui bundle (dist/demixui from `make package`) for the current user, so it shows up in the
# desktop's menus with its name and icon:
#   <PREFIX>/lib/demixui/            the bundle (its own Python; nothing else needed but PortAudio for sound)
#   <PREFIX>/bin/demixui             a link to the program
#   <PREFIX>/share/applications/     the desktop entry, Exec pointing at the program
#   <PREFIX>/share/icons/hicolor/    the icon at every size, and the SVG
#   <PREFIX>/share/metainfo/         AppStream metadata for software centres
# Usage: install.sh [BUNDLE]   (default: the folder this script is in); PREFIX defaults to ~/.local.
# Uninstall: install.sh --uninstall
set -eu
PREFIX="${PREFIX:-$HOME/.local}"
APP_ID=io.github.demixui.DemixUI
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$PREFIX/lib/demixui" "$PREFIX/bin/demixui" "$PREFIX/share/applications/$APP_ID.desktop" \
         "$PREFIX/share/metainfo/$APP_ID.metainfo.xml"
  find "$PREFIX/share/icons/hicolor" -name 'demixui.*' -delete 2>/dev/null || true
  echo "demixui: removed from $PREFIX"
  exit 0
fi

bundle=$(cd "${1:-$here}" && pwd)
if [ ! -x "$bundle/demixui" ]; then
  echo "demixui: no bundle at $bundle (run 'make package', then dist/demixui/install.sh)" >&2
  exit 1
fi
# The bundle keeps its data in _internal/ (PyInstaller >= 6): icons in assets/icons, entries in linux/.
data="$bundle/_internal"
[ -d "$data/assets/icons" ] || { echo "demixui: $bundle has no assets/icons; rebuild it" >&2; exit 1; }

mkdir -p "$PREFIX/lib" "$PREFIX/bin" "$PREFIX/share/applications" "$PREFIX/share/metainfo"
# Copy to a temporary name, then swap, so a failed copy never leaves half an app behind.
rm -rf "$PREFIX/lib/demixui.new"
cp -R "$bundle" "$PREFIX/lib/demixui.new"
rm -rf "$PREFIX/lib/demixui"
mv "$PREFIX/lib/demixui.new" "$PREFIX/lib/demixui"
ln -sfn "$PREFIX/lib/demixui/demixui" "$PREFIX/bin/demixui"

program="$PREFIX/lib/demixui/demixui"
sed -e "s|^Exec=demixui|Exec=$program|" -e "s|^TryExec=demixui|TryExec=$program|" \
  "$data/linux/$APP_ID.desktop" > "$PREFIX/share/applications/$APP_ID.desktop"
cp "$data/linux/$APP_ID.metainfo.xml" "$PREFIX/share/metainfo/"
for png in "$data"/assets/icons/demixui-*.png; do
  size=$(basename "$png" .png | sed 's/demixui-//')
  mkdir -p "$PREFIX/share/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$PREFIX/share/icons/hicolor/${size}x${size}/apps/demixui.png"
done
mkdir -p "$PREFIX/share/icons/hicolor/scalable/apps"
cp "$data/assets/icons/demixui.svg" "$PREFIX/share/icons/hicolor/scalable/apps/demixui.svg"

# Refresh the desktop's caches where the tools exist; menus pick the entry up without them too.
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$PREFIX/share/applications" || true
fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then
  gtk-update-icon-cache -q -t "$PREFIX/share/icons/hicolor" || true
fi
echo "demixui: installed in $PREFIX (run 'demixui' or find DemixUI in the menu)"
