#!/usr/bin/env bash
# The README's invitation and recovery walkthrough, run against the built
# binary on a fresh embedded SQLite database with no mail server: the admin
# invites a colleague by email, the link is in the server's log, the
# colleague accepts it with a password and signs in; then resets a
# forgotten password through a link in the same log and signs in with the
# new one. Also checks what must be refused on the way. Exits non-zero on
# the first surprise.
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
fail() { echo "invitation walkthrough: $*" >&2; exit 1; }
gql() {
  jq -n --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}' |
    curl -sS "$base/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d @-
}
post() { curl -sS -o body.json -w '%{http_code}' -X POST "$base$1" -H 'Content-Type: application/json' -d "$2"; }
# link KIND: the token of the newest mailed link of KIND (invitations/accept,
# password-reset) in the log, waiting for the outbox.
link() {
  local t=""
  for _ in $(seq 50); do
    t="$(grep -o "$1?token=[a-z0-9_]*" serve.log | tail -1 | cut -d= -f2 || true)"
    [[ -n "$t" ]] && { echo "$t"; return; }
    sleep 0.1
  done
  fail "no $1 link in the log"
}

KEY="$("$bin" bootstrap --email admin@example.com 2>/dev/null)"
"$bin" serve --addr "127.0.0.1:$port" --public-url "$base" 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

ORG="$(gql "$KEY" 'mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }' | jq -r .data.createOrganization.id)"
[[ "$ORG" == org_* ]] || fail "createOrganization: $ORG"
out="$(gql "$KEY" 'mutation ($o: ID!) { inviteMember(organizationID: $o, email: "colleague@example.com", message: "Welcome!") { id status } }' "{\"o\":\"$ORG\"}")"
INV="$(jq -r .data.inviteMember.id <<<"$out")"
[[ "$INV" == inv_* ]] || fail "inviteMember: $out"
out="$(gql "$KEY" 'mutation ($o: ID!) { inviteMember(organizationID: $o, email: "Colleague@Example.com") { id } }' "{\"o\":\"$ORG\"}")"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == CONFLICT ]] || fail "a second pending invitation was not refused: $out"

TOKEN="$(link invitations/accept)"
code="$(post /auth/invitations/accept "$(jq -n --arg t "$TOKEN" '{token: $t, password: "short"}')")"
[[ "$code" == 400 && "$(jq -r '.errors[0].extensions.rule' body.json)" == too_short ]] || fail "a short password was accepted ($code): $(cat body.json)"
code="$(post /auth/invitations/accept "$(jq -n --arg t "$TOKEN" '{token: $t, password: "maple kettle orbit 2044", name: "Colleague"}')")"
[[ "$code" == 200 && "$(jq -r .userCreated body.json)" == true ]] || fail "accept ($code): $(cat body.json)"
code="$(post /auth/invitations/accept "$(jq -n --arg t "$TOKEN" '{token: $t, password: "maple kettle orbit 2044"}')")"
[[ "$code" == 409 && "$(jq -r '.errors[0].extensions.code' body.json)" == INVITATION_ACCEPTED ]] || fail "second acceptance ($code): $(cat body.json)"

code="$(post /auth/login '{"email":"colleague@example.com","password":"maple kettle orbit 2044","organizationID":"'"$ORG"'"}')"
[[ "$code" == 200 ]] || fail "login after accepting ($code): $(cat body.json)"
ACCESS="$(jq -r .accessToken body.json)"
out="$(gql "$ACCESS" '{ viewer { organizations { organization { name } } } }')"
[[ "$(jq -r '.data.viewer.organizations[0].organization.name' <<<"$out")" == Acme ]] || fail "viewer after accepting: $out"
out="$(gql "$KEY" 'query ($o: ID!) { node(id: $o) { ... on Organization { invitations(where: {status: accepted}) { totalCount edges { node { email acceptedBy { emailVerified } } } } } } }' "{\"o\":\"$ORG\"}")"
[[ "$(jq -r '.data.node.invitations.edges[0].node.acceptedBy.emailVerified' <<<"$out")" == true ]] || fail "invitations connection: $out"

# Forgotten password: the same answer for an unknown address; the link is in the log.
code="$(post /auth/password-reset/request '{"email":"nobody@example.com"}')"; unknown="$code $(cat body.json)"
code="$(post /auth/password-reset/request '{"email":"colleague@example.com"}')"; known="$code $(cat body.json)"
[[ "$known" == "$unknown" && "$code" == 202 ]] || fail "reset answers differ: $known / $unknown"
RESET="$(link password-reset)"
code="$(post /auth/password-reset/confirm "$(jq -n --arg t "$RESET" '{token: $t, newPassword: "quartz lantern meadow 3131"}')")"
[[ "$code" == 204 ]] || fail "reset confirm ($code): $(cat body.json)"
code="$(post /auth/password-reset/confirm "$(jq -n --arg t "$RESET" '{token: $t, newPassword: "quartz lantern meadow 3132"}')")"
[[ "$code" == 409 && "$(jq -r '.errors[0].extensions.code' body.json)" == TOKEN_USED ]] || fail "reset token reused ($code): $(cat body.json)"
out="$(gql "$ACCESS" '{ viewer { kind } }')"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == UNAUTHENTICATED ]] || fail "the session before the reset still works: $out"
code="$(post /auth/login '{"email":"colleague@example.com","password":"maple kettle orbit 2044"}')"
[[ "$code" == 401 ]] || fail "the old password still signs in ($code)"
code="$(post /auth/login '{"email":"colleague@example.com","password":"quartz lantern meadow 3131"}')"
[[ "$code" == 200 ]] || fail "login with the new password ($code): $(cat body.json)"

# Signup is off unless switched on.
code="$(post /auth/signup '{"email":"new@example.com","password":"cobalt harbor violin 5150"}')"
[[ "$code" == 403 && "$(jq -r '.errors[0].extensions.code' body.json)" == FEATURE_DISABLED ]] || fail "signup while off ($code): $(cat body.json)"
[[ "$(curl -sS "$base/auth/features" | jq -c .)" == '{"invitations":true,"password_reset":true,"signup":false}' ]] || fail "features"
grep -q 'maple kettle orbit\|quartz lantern' serve.log && fail "a password reached the log"
echo "invitation walkthrough: ok"
