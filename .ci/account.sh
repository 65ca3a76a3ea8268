#!/usr/bin/env bash
# The README's account-administration walkthrough, run against the built
# binary on a fresh embedded SQLite database: an owner builds a roster
# (titles, departments, a manager), the platform admin suspends and
# reactivates a member (their access token dies), bans them until tomorrow
# (sign-in answers ACCOUNT_BANNED with bannedUntil), grants a platform role,
# the new superadmin impersonates a member with a reason and the trail names
# the impersonator, and the role is revoked. Exits non-zero on the first
# surprise.
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
fail() { echo "account walkthrough: $*" >&2; exit 1; }
# gql CREDENTIAL QUERY [VARIABLES-JSON]: the answer of /graphql.
gql() {
  jq -n --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}' |
    curl -sS "$base/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d @-
}
login() {
  jq -n --arg e "$1" --arg p "$2" '{email: $e, password: $p}' |
    curl -sS -X POST "$base/auth/login" -H 'Content-Type: application/json' -d @-
}
pw='violet cactus harbor 1987 drums'

KEY="$("$bin" bootstrap --email admin@example.com 2>/dev/null)"
for u in alice bob ops; do
  printf '%s\n' "$pw" | "$bin" user create --email "$u@example.com" --name "$u" --password-stdin >/dev/null 2>&1
done
"$bin" serve --addr "127.0.0.1:$port" --public-url "$base" 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

ALICE="$(login alice@example.com "$pw" | jq -r .accessToken)"
BOB_ID="$(gql "$KEY" '{ users(where: {email: "Bob@Example.com"}) { edges { node { id } } } }' | jq -r '.data.users.edges[0].node.id')"
ALICE_ID="$(gql "$KEY" '{ users(where: {email: "alice@example.com"}) { edges { node { id } } } }' | jq -r '.data.users.edges[0].node.id')"
[[ "$BOB_ID" == usr_* && "$ALICE_ID" == usr_* ]] || fail "users by email: $BOB_ID $ALICE_ID"

# Alice's organization and roster: Bob in Support, reporting to Alice.
ORG="$(gql "$ALICE" 'mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }' | jq -r .data.createOrganization.id)"
ALICE_M="$(gql "$ALICE" '{ viewer { organizations { membership { id } } } }' | jq -r '.data.viewer.organizations[0].membership.id')"
# An owner cannot add an existing user without their consent: she invites
# Bob, who accepts with the link from the log (no mail server here).
out="$(gql "$ALICE" 'mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }' "{\"o\":\"$ORG\",\"u\":\"$BOB_ID\"}")"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == FORBIDDEN ]] || fail "an owner added a user without an invitation: $out"
out="$(gql "$ALICE" 'mutation ($o: ID!) { inviteMember(organizationID: $o, email: "Bob@Example.com") { id status } }' "{\"o\":\"$ORG\"}")"
[[ "$(jq -r .data.inviteMember.status <<<"$out")" == pending ]] || fail "inviteMember: $out"
tok=""
for _ in $(seq 50); do
  tok="$(grep -o 'invitations/accept?token=cfinv_[a-z0-9_]*' serve.log | tail -1 | cut -d= -f2 || true)"
  [[ -n "$tok" ]] && break
  sleep 0.1
done
[[ -n "$tok" ]] || fail "no invitation link in the log"
# Bob's address was never verified (user create), so accepting sets his
# password: he gives the one he has.
BOB_M="$(jq -n --arg t "$tok" --arg p "$pw" '{token: $t, password: $p}' | curl -sS -X POST "$base/auth/invitations/accept" -H 'Content-Type: application/json' -d @- | jq -r .membershipID)"
[[ "$BOB_M" == mem_* ]] || fail "accepting the invitation: $BOB_M"
out="$(gql "$ALICE" 'mutation ($id: ID!, $m: ID!) { updateMember(id: $id, input: {title: "Agent", department: "Support", managerID: $m}) { managerID department } }' "{\"id\":\"$BOB_M\",\"m\":\"$ALICE_M\"}")"
[[ "$(jq -r .data.updateMember.managerID <<<"$out")" == "$ALICE_M" ]] || fail "updateMember: $out"
out="$(gql "$ALICE" 'mutation ($id: ID!, $m: ID!) { updateMember(id: $id, input: {managerID: $m}) { id } }' "{\"id\":\"$ALICE_M\",\"m\":\"$BOB_M\"}")"
[[ "$(jq -r '.errors[0].extensions.field' <<<"$out")" == managerID ]] || fail "a manager cycle was not refused: $out"
roster="$(gql "$ALICE" 'query ($o: ID!) { node(id: $o) { ... on Organization { memberships(first: 50) { edges { node { status title department user { email } roles { edges { node { key } } } manager { user { email } } } } } } } }' "{\"o\":\"$ORG\"}")"
bob_row="$(jq -c '.data.node.memberships.edges[].node | select(.user.email == "bob@example.com")' <<<"$roster")"
[[ "$(jq -r '[.department, .manager.user.email, .roles.edges[0].node.key] | join("|")' <<<"$bob_row")" == "Support|alice@example.com|member" ]] || fail "roster: $roster"

# Suspend Bob: his access token answers 401 on the next request; reactivate.
BOB="$(login bob@example.com "$pw" | jq -r .accessToken)"
out="$(gql "$KEY" 'mutation ($id: ID!) { transitionUser(id: $id, to: suspended, reason: "chargeback") { status } }' "{\"id\":\"$BOB_ID\"}")"
[[ "$(jq -r .data.transitionUser.status <<<"$out")" == suspended ]] || fail "suspend: $out"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' -d '{"query":"{ viewer { kind } }"}')"
[[ "$status" == 401 ]] || fail "suspended user's token answered $status"
out="$(gql "$KEY" 'mutation ($id: ID!) { transitionUser(id: $id, to: pending, reason: "x") { status } }' "{\"id\":\"$BOB_ID\"}")"
[[ "$(jq -r .errors[0].extensions.code <<<"$out")" == BAD_USER_INPUT ]] && grep -q suspended <<<"$out" || fail "suspended -> pending: $out"
out="$(gql "$KEY" 'mutation ($id: ID!) { transitionUser(id: $id, to: active, reason: "paid") { status } }' "{\"id\":\"$BOB_ID\"}")"
[[ "$(jq -r .data.transitionUser.status <<<"$out")" == active ]] || fail "reactivate: $out"

# Ban Bob until tomorrow: his new session dies, sign-in says until when.
BOB="$(login bob@example.com "$pw" | jq -r .accessToken)"
[[ "$BOB" == eyJ* ]] || fail "Bob could not sign in after reactivation"
tomorrow="$(date -u -d tomorrow +%Y-%m-%dT%H:%M:%SZ)"
gql "$KEY" 'mutation ($id: ID!, $t: Time) { banUser(id: $id, reason: "spam", expiresAt: $t) { bannedAt } }' "{\"id\":\"$BOB_ID\",\"t\":\"$tomorrow\"}" >/dev/null
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" -H "Authorization: Bearer $BOB" -H 'Content-Type: application/json' -d '{"query":"{ viewer { kind } }"}')"
[[ "$status" == 401 ]] || fail "banned user's token answered $status"
out="$(login bob@example.com "$pw")"
[[ "$(jq -r .errors[0].extensions.code <<<"$out")" == ACCOUNT_BANNED && "$(jq -r .errors[0].extensions.bannedUntil <<<"$out")" == "$tomorrow" ]] || fail "banned login: $out"
gql "$KEY" 'mutation ($id: ID!) { unbanUser(id: $id, reason: "appeal") { bannedAt } }' "{\"id\":\"$BOB_ID\"}" >/dev/null

# Grant Ops the superadmin role; Ops impersonates Alice with a reason.
OPS_ID="$(gql "$KEY" '{ users(where: {email: "ops@example.com"}) { edges { node { id } } } }' | jq -r '.data.users.edges[0].node.id')"
gql "$KEY" 'mutation ($id: ID!) { grantPlatformRole(userID: $id, role: superadmin, reason: "on call") { platformRole } }' "{\"id\":\"$OPS_ID\"}" | grep -q superadmin || fail "grantPlatformRole"
OPS="$(login ops@example.com "$pw" | jq -r .accessToken)"
imp="$(gql "$OPS" 'mutation ($id: ID!) { impersonateUser(userID: $id, reason: "ticket 4711", durationMinutes: 15) { accessToken expiresAt session { id impersonatorID } } }' "{\"id\":\"$ALICE_ID\"}")"
IMP="$(jq -r .data.impersonateUser.accessToken <<<"$imp")"
[[ "$(jq -r .data.impersonateUser.session.impersonatorID <<<"$imp")" == "$OPS_ID" ]] || fail "impersonateUser: $imp"
gql "$IMP" 'mutation ($id: ID!) { updateUser(id: $id, input: {displayName: "Alice (fixed by support)"}) { displayName } }' "{\"id\":\"$ALICE_ID\"}" | grep -q 'fixed by support' || fail "write while impersonating"
out="$(gql "$IMP" 'mutation { createAPIKey(input: {name: "k", scopes: ["*"]}) { key } }')"
[[ "$(jq -r .errors[0].extensions.code <<<"$out")" == FORBIDDEN ]] || fail "API key from an impersonation: $out"
trail="$(gql "$KEY" '{ activities(where: {verbIn: ["user.updated", "user.impersonation_started"]}, orderBy: [{field: CREATED_AT}]) { edges { node { verb actorUser { email } impersonator { email } data } } } }')"
[[ "$(jq -r '[.data.activities.edges[].node | select(.verb == "user.updated") | .impersonator.email] | last' <<<"$trail")" == ops@example.com ]] || fail "trail: $trail"
gql "$IMP" 'mutation { stopImpersonation { revokedReason } }' | grep -q impersonation_stopped || fail "stopImpersonation"
status="$(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" -H "Authorization: Bearer $IMP" -H 'Content-Type: application/json' -d '{"query":"{ viewer { kind } }"}')"
[[ "$status" == 401 ]] || fail "stopped impersonation answered $status"

# Revoke the role again.
gql "$KEY" 'mutation ($id: ID!) { revokePlatformRole(userID: $id, reason: "rotation ended") { platformRole } }' "{\"id\":\"$OPS_ID\"}" | grep -q '"none"' || fail "revokePlatformRole"
echo "account walkthrough: ok"
