#!/usr/bin/env bash
# The README's "Operating it" checks, run against the built binary on a
# fresh embedded SQLite database: identity version and /healthz name the
# revision of this checkout; serve with --metrics-addr and the console trace
# exporter; a few requests (a query, a refused credential, a failed and a
# good sign-in, a document that does not parse); then the scrape shows their
# figures, the API listener does not serve /metrics, and the exported spans
# hold the request's SQL. Exits non-zero on the first surprise.
set -euo pipefail
bin="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
mport=$((port + 1))
base="http://127.0.0.1:$port"
fail() { echo "operations walkthrough: $*" >&2; exit 1; }
json() { curl -sS -H 'Content-Type: application/json' "$@"; }

# The build names this checkout's revision (the binary was built with
# -buildvcs=true from a git clone).
rev="$(git -C "$root" rev-parse HEAD)"
"$bin" version >version.txt
grep -q "^revision: $rev" version.txt || fail "identity version does not name $rev: $(cat version.txt)"

KEY="$("$bin" bootstrap --email admin@example.com 2>/dev/null)"
printf 'violet cactus harbor 1987 drums\n' | "$bin" user create --email alice@example.com --name Alice --password-stdin >/dev/null 2>&1

OTEL_TRACES_EXPORTER=console "$bin" serve --addr "127.0.0.1:$port" --metrics-addr "127.0.0.1:$mport" 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

health="$(curl -sS "$base/healthz")"
grep -q "^revision $rev" <<<"$health" || fail "/healthz does not name $rev: $health"
grep -q "revision=$rev" serve.log || fail "serve does not log the revision at start"

kind="$(json "$base/graphql" -H "Authorization: Bearer $KEY" -d '{"query":"query Viewer { viewer { kind } }","operationName":"Viewer"}' | jq -r .data.viewer.kind)"
[[ "$kind" == api_key ]] || fail "viewer: $kind"
code="$(json "$base/graphql" -d '{"query":"{ viewer { kind } }"}' | jq -r '.errors[0].extensions.code')"
[[ "$code" == UNAUTHENTICATED ]] || fail "no credential: $code"
code="$(json "$base/graphql" -H "Authorization: Bearer $KEY" -d '{"query":"query Broken {","operationName":"Broken"}' | jq -r '.errors[0].extensions.code')"
[[ "$code" == GRAPHQL_PARSE_FAILED ]] || fail "a document that does not parse: $code"
json -X POST "$base/auth/login" -d '{"email":"alice@example.com","password":"wrong wrong wrong"}' >/dev/null
json -X POST "$base/auth/login" -d '{"email":"alice@example.com","password":"violet cactus harbor 1987 drums"}' | jq -e .accessToken >/dev/null || fail "login"

status="$(curl -s -o /dev/null -w '%{http_code}' "$base/metrics")"
[[ "$status" == 404 ]] || fail "the API listener answers /metrics with $status, want 404"
curl -sS "http://127.0.0.1:$mport/metrics" >metrics.txt
for want in \
  'identity_graphql_operations_total{operation="Viewer",outcome="ok",type="query"} 1' \
  'identity_graphql_operations_total{operation="unparsed",outcome="GRAPHQL_PARSE_FAILED",type="unknown"} 1' \
  'identity_authentications_total{credential="api_key",result="ok"} 2' \
  'identity_authentications_total{credential="none",result="missing"} 1' \
  'identity_authentications_total{credential="password",result="invalid_credentials"} 1' \
  'identity_authentications_total{credential="password",result="ok"} 1' \
  'identity_http_requests_total{code="401",method="POST",route="/graphql"} 1' \
  'identity_http_requests_total{code="200",method="POST",route="/auth/login"} 1' \
  'identity_sql_statements_per_request_count{route="/graphql"} 3' \
  'identity_activity_rows_written_total{chain="platform"}' \
  'go_sql_open_connections{db_name="sqlite3"}' \
  "identity_build_info{revision=\"$rev\""; do
  grep -qF "$want" metrics.txt || fail "the scrape lacks: $want"
done
! grep -qF "$KEY" metrics.txt || fail "the scrape holds the API key"

kill -TERM $srv; wait $srv || true
for want in '"Name":"POST /graphql"' '"Name":"query Viewer"' '"Name":"Query.viewer"' '"Name":"SELECT"' '"db.query.text"'; do
  grep -qF "$want" serve.log || fail "the exported spans lack $want"
done
! grep -qF "$KEY" serve.log || fail "the log or the spans hold the API key"
echo "operations walkthrough: ok (version and /healthz name $rev, scrape of $(grep -c '^identity_' metrics.txt) identity_* series, spans with SQL)"
