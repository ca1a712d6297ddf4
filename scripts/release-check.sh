#!/usr/bin/env bash
# Builds the release as `goreleaser release` would, without publishing
# (--snapshot), then lists every archive and Linux package and fails
# unless each holds the binary, LICENSE and THIRD_PARTY_NOTICES.txt and
# checksums.txt lists it. CI runs it last: ~10 min on 2 cores from a cold
# build cache (six cross builds dominate; the -short test hook takes 30 s),
# plus ~4 min to install goreleaser where it is missing.
#
#   scripts/release-check.sh
#
# Needs goreleaser v2 (installed here if missing):
#   go install github.com/goreleaser/goreleaser/v2@v2.16.0
set -euo pipefail
cd "$(dirname "$0")/.."
GORELEASER=${GORELEASER:-$(command -v goreleaser || true)}
if [ -z "$GORELEASER" ]; then
  echo "--- installing goreleaser v2.16.0"
  go install github.com/goreleaser/goreleaser/v2@v2.16.0
  GORELEASER="$(go env GOPATH)/bin/goreleaser"
fi
"$GORELEASER" check
"$GORELEASER" release --snapshot --clean
go run ./scripts/releasecheck dist
echo "release-check: every archive and package holds LICENSE and THIRD_PARTY_NOTICES.txt"
