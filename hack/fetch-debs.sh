#!/usr/bin/env bash
# Downloads Debian packages of one suite (for example bookworm-backports)
# and unpacks them into a folder, without installing them and without
# touching the system's APT sources: a private APT state under the folder
# is used. Usage: hack/fetch-debs.sh DEST SUITE PACKAGE=VERSION...
# DEST/.complete marks a finished unpack (make keys the folder by version).
set -euo pipefail
dest=$1 suite=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb http://deb.debian.org/debian $suite main" >"$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq "$@")
rm -rf "$dest"
mkdir -p "$dest"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dest"
done
touch "$dest/.complete"
