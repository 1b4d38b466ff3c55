#!/usr/bin/env bash
# Puts gVisor's runsc where berth's gvisor driver looks for it (default /var/cache/berth/runsc/runsc), from Debian
# bookworm-backports, without touching the machine's apt sources: a private sources list and private apt state are
# used for this one download, and the package is unpacked, not installed. apt checks the archive's signature with
# the Debian keyring, as for any package. Debian stable's own runsc (2022) lacks the systrap platform berth uses.
#
#   scripts/install-runsc.sh [DIR]
set -euo pipefail

dest=${1:-/var/cache/berth/runsc}
if [ -x "$dest/runsc" ] && "$dest/runsc" --version >/dev/null 2>&1; then
  echo "runsc already in $dest: $("$dest/runsc" --version | head -1)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-backports main' > "$work/sources.list"
apt_private=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root
)
apt-get "${apt_private[@]}" -qq update
(cd "$work" && apt-get "${apt_private[@]}" -qq download runsc/bookworm-backports)
dpkg-deb -x "$work"/runsc_*.deb "$work/unpacked"

mkdir -p "$dest"
install -m 0755 "$work/unpacked/usr/bin/runsc" "$dest/runsc.new"
mv "$dest/runsc.new" "$dest/runsc"
echo "runsc installed in $dest: $("$dest/runsc" --version | head -1)"
