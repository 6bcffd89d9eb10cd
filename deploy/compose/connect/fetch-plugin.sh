#!/bin/sh
# Downloads Aiven's S3 sink connector (Apache-2.0) release archive into the Connect plugin volume.
# Runs once in the `connect-plugins` service; a second run with the same version does nothing.
set -eu

: "${AIVEN_S3_VERSION:?set AIVEN_S3_VERSION}"
plugins=/opt/connect-plugins
dest="$plugins/aiven-s3-sink-$AIVEN_S3_VERSION"
url="https://github.com/Aiven-Open/cloud-storage-connectors-for-apache-kafka/releases/download/v$AIVEN_S3_VERSION/s3-sink-connector-for-apache-kafka-$AIVEN_S3_VERSION.tar"

if [ -d "$dest" ]; then
  echo "Aiven S3 sink $AIVEN_S3_VERSION already present in $dest"
  exit 0
fi

echo "downloading $url"
curl -fsSL --retry 5 --retry-delay 2 -o /tmp/s3-sink.tar "$url"
if [ -n "${AIVEN_S3_SHA256:-}" ]; then
  echo "$AIVEN_S3_SHA256  /tmp/s3-sink.tar" | sha256sum -c -
else
  echo "AIVEN_S3_SHA256 not set: archive digest not verified" >&2
fi

# Two versions of one connector class on plugin.path make Connect's choice ambiguous: keep one.
rm -rf "$plugins"/aiven-s3-sink-* "$dest.partial"
mkdir -p "$dest.partial"
tar -xf /tmp/s3-sink.tar -C "$dest.partial"
mv "$dest.partial" "$dest"
rm -f /tmp/s3-sink.tar
echo "installed into $dest:"
find "$dest" -name '*.jar' | head -n 5
