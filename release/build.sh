#!/usr/bin/env bash
# Builds caapolicy's release artefacts into dist/ (or $OUT): static CoreDNS-with-caapolicy and
# caacheck binaries for linux/amd64 and linux/arm64, stamped with the version, and SHA256SUMS.
# The Dockerfile at the repository root packs dist/coredns-linux-$TARGETARCH into an image.
#
#   release/build.sh                  # version from git describe (a tag, else the commit)
#   VERSION=v0.1.0 release/build.sh   # the version to stamp
set -euo pipefail
cd "$(dirname "$0")/.."

out="${OUT:-dist}"
version="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}"
ldflags="-s -w -X github.com/caapolicy/caapolicy/internal/version.Version=$version"
arches=(amd64 arm64)

echo "release: version $version, into $out/"
rm -rf "$out"
mkdir -p "$out"
for arch in "${arches[@]}"; do
    for cmd in coredns caacheck; do
        echo "release: building $out/$cmd-linux-$arch (static, CGO_ENABLED=0)"
        CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags "$ldflags" -o "$out/$cmd-linux-$arch" "./cmd/$cmd"
    done
done
echo "release: writing $out/SHA256SUMS"
(cd "$out" && sha256sum -- coredns-linux-* caacheck-linux-* >SHA256SUMS)
cat "$out/SHA256SUMS"
