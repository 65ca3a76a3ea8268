#!/usr/bin/env bash
# golangci-lint at the pinned version, with the committed .golangci.yml, on
# the main module and on each examples/* module (separate modules, linted
# from their own folders with the root configuration). Installs the pinned
# version into $(go env GOPATH)/bin when `golangci-lint version` is not
# exactly it. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=2.15.0
export PATH="/usr/local/go/bin:$(go env GOPATH)/bin:$PATH"
export CGO_ENABLED=1

lint="$(go env GOPATH)/bin/golangci-lint"
have="$("$lint" version 2>/dev/null || true)"
if [[ "$have" != "golangci-lint has version $GOLANGCI_LINT_VERSION "* ]]; then
  echo "installing golangci-lint v$GOLANGCI_LINT_VERSION (found: ${have:-none})"
  # Built with the Go of this machine (1.26, the module's go version).
  GOBIN="$(go env GOPATH)/bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$GOLANGCI_LINT_VERSION"
fi
"$lint" version

config="$PWD/.golangci.yml"
status=0
echo "--> golangci-lint run ./... (main module)"
"$lint" run --config "$config" ./... || status=1
for dir in examples/*/; do
  [[ -f "$dir/go.mod" ]] || continue
  echo "--> golangci-lint run ./... ($dir)"
  (cd "$dir" && "$lint" run --config "$config" ./...) || status=1
done
exit "$status"
