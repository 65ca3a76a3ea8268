#!/usr/bin/env bash
# The README's sign-in walkthrough, run against the built binary on a fresh
# embedded SQLite database: bootstrap, create a user with a password, sign in
# with curl, call /graphql with the access token, refresh, replay the old
# refresh token (the session dies), verify a token offline with
# examples/verify against /.well-known/jwks.json, and list and revoke
# sessions as an admin. Exits non-zero on the first surprise.
set -euo pipefail
bin="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
fail() { echo "sign-in walkthrough: $*" >&2; exit 1; }
json() { curl -sS -H 'Content-Type: application/json' "$@"; }

KEY="$("$bin" bootstrap --email admin@example.com 2>/dev/null)"
printf 'violet cactus harbor 1987 drums\n' | "$bin" user create --email alice@example.com --name Alice --password-stdin >/dev/null 2>&1
[[ "$(stat -c %a identity.db.master-key)" == 600 ]] || fail "master key file is not mode 0600"

IDENTITY_REFRESH_GRACE=1s "$bin" serve --addr "127.0.0.1:$port" --log-level warn 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

# Sign in.
json -X POST "$base/auth/login" -d '{"email":"alice@example.com","password":"violet cactus harbor 1987 drums"}' >login.json
AT="$(jq -r .accessToken login.json)"; RT="$(jq -r .refreshToken login.json)"
[[ "$(jq -r .tokenType login.json)" == Bearer && "$(jq -r .expiresIn login.json)" == 900 ]] || fail "login answered $(cat login.json)"
# A wrong password gets the same answer as an unknown email.
w1="$(json -X POST "$base/auth/login" -d '{"email":"alice@example.com","password":"wrong wrong wrong"}' | jq -r '.errors[0].extensions.code')"
w2="$(json -X POST "$base/auth/login" -d '{"email":"nobody@example.com","password":"wrong wrong wrong"}' | jq -r '.errors[0].extensions.code')"
[[ "$w1" == INVALID_CREDENTIALS && "$w2" == INVALID_CREDENTIALS ]] || fail "wrong password: $w1, unknown email: $w2"

# Call /graphql with the access token.
me="$(json "$base/graphql" -H "Authorization: Bearer $AT" -d '{"query":"{ viewer { user { email } } }"}' | jq -r .data.viewer.user.email)"
[[ "$me" == alice@example.com ]] || fail "viewer with the access token: $me"

# Verify the token offline against the published keys.
(cd "$root/examples/verify" && go run . -jwks "$base/.well-known/jwks.json" "$AT") >verified.json || fail "examples/verify refused the access token"
grep -q "$(jq -r .sessionID login.json)" verified.json || fail "examples/verify: $(cat verified.json)"

# Refresh, then replay the used refresh token after the grace window.
json -X POST "$base/auth/refresh" -d "{\"refreshToken\":\"$RT\"}" >refresh.json
AT2="$(jq -r .accessToken refresh.json)"
[[ "$AT2" != null && "$(jq -r .refreshToken refresh.json)" != "$RT" ]] || fail "refresh answered $(cat refresh.json)"
sleep 1.5
code="$(json -X POST "$base/auth/refresh" -d "{\"refreshToken\":\"$RT\"}" | jq -r '.errors[0].extensions.code')"
[[ "$code" == REFRESH_TOKEN_REUSED ]] || fail "replayed refresh token: $code"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" -H "Authorization: Bearer $AT2" -H 'Content-Type: application/json' -d '{"query":"{ viewer { user { id } } }"}')"
[[ "$status" == 401 ]] || fail "access token of the revoked session answered $status"

# Sign in again and revoke that session as the admin.
json -X POST "$base/auth/login" -d '{"email":"alice@example.com","password":"violet cactus harbor 1987 drums"}' >login2.json
AT3="$(jq -r .accessToken login2.json)"; SID="$(jq -r .sessionID login2.json)"
live="$(json "$base/graphql" -H "Authorization: Bearer $KEY" -d '{"query":"{ sessions(where: {revokedAtIsNil: true}) { totalCount edges { node { id ip userAgent lastUsedAt user { email } } } } }"}')"
[[ "$(jq -r '.data.sessions.edges[0].node.id' <<<"$live")" == "$SID" ]] || fail "admin's session list: $live"
rev="$(json "$base/graphql" -H "Authorization: Bearer $KEY" -d "{\"query\":\"mutation { revokeSession(id: \\\"$SID\\\") { revokedAt revokedReason } }\"}" | jq -r .data.revokeSession.revokedReason)"
[[ "$rev" == revoked ]] || fail "revokeSession: $rev"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" -H "Authorization: Bearer $AT3" -H 'Content-Type: application/json' -d '{"query":"{ viewer { user { id } } }"}')"
[[ "$status" == 401 ]] || fail "access token of a session revoked by the admin answered $status"
echo "sign-in walkthrough: ok (login, /graphql, offline verify, refresh, reuse detected, admin revoke)"
