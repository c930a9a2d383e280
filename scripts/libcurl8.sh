#!/usr/bin/env bash
# Finds a libcurl 8 for the suite's second pass, beside the system's own.
# gptimage loads libcurl by its soname when the first request starts, so
# the same build runs on another libcurl.so.4 put first on
# LD_LIBRARY_PATH. libcurl 8 reads HTTP/2 differently from 7.88 (a chunk
# per call), and most users have 8, so both are tested.
#
#   scripts/libcurl8.sh DIR
#
# Prints the folder that holds libcurl.so.4 (8.x) and exits 0; prints
# nothing when the system's libcurl is already 8 or newer (the first pass
# covers it) or when no libcurl 8 can be had here. On Debian 12 it takes
# libcurl4 from bookworm-backports, through apt with the Debian archive key
# but a private list of sources and state under DIR: the machine's apt
# sources and its installed packages are left as they are. Under CI=true a
# libcurl 8 that cannot be had is an error, not a skipped pass.
set -euo pipefail
dir=${1:?usage: scripts/libcurl8.sh DIR}
skip() {
  echo "libcurl8.sh: $*; the second pass is skipped" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 0
}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

system=$(curl-config --version 2>/dev/null | awk '{print $2}') || system=
case "$system" in
  [89].*|[1-9][0-9].*) exit 0 ;;
esac

lib="$dir/root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -dumpmachine)"
# it loads with the libraries this system has (a later backport may want
# newer ones): said here plainly, not as a suite that fails to start
loads() {
  python3 -c 'import ctypes, sys; ctypes.CDLL(sys.argv[1]).curl_version' "$lib/libcurl.so.4" 2>"$dir/load.log"
}
if [ -e "$lib/libcurl.so.4" ] && loads; then
  echo "$lib"
  exit 0
fi

. /etc/os-release 2>/dev/null || true
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ "${ID:-}" != debian ] || [ "${VERSION_CODENAME:-}" != bookworm ] || [ ! -r "$keyring" ]; then
  skip "no libcurl 8 for ${PRETTY_NAME:-this system}"
fi

mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs"
rm -f "$dir"/debs/*.deb # only the version fetched now is unpacked
printf 'deb [signed-by=%s] http://deb.debian.org/debian bookworm-backports main\n' "$keyring" > "$dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=-
  -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
  -o Debug::NoLocking=1
  -o APT::Get::List-Cleanup=0
)
if ! apt-get "${apt_opts[@]}" update >"$dir/apt.log" 2>&1 ||
   ! (cd "$dir/debs" && apt-get "${apt_opts[@]}" download libcurl4/bookworm-backports >>"$dir/apt.log" 2>&1); then
  skip "could not fetch libcurl4 from bookworm-backports (see $dir/apt.log)"
fi
rm -rf "$dir/root"
for deb in "$dir"/debs/libcurl4_*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
if [ ! -e "$lib/libcurl.so.4" ]; then
  skip "the package held no $lib/libcurl.so.4"
fi
if ! loads; then
  rm -rf "$dir/root"
  skip "$lib/libcurl.so.4 does not load here: $(tail -n 1 "$dir/load.log")"
fi
echo "$lib"
