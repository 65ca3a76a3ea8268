#!/usr/bin/env bash
# The typed Go client (package adminapi) against the built binary: a fresh
# embedded SQLite database, the bootstrap admin's key, Alice's organization
# with Bob as a member and two sessions of Bob; then examples/adminclient
# (viewer, members, invite, sessions and a revoke, ban and unban) runs with
# the admin's key and its output is checked, and a run with a wrong key
# must fail with UNAUTHENTICATED. Exits non-zero on the first surprise.
set -euo pipefail
bin="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
fail() { echo "typed client example: $*" >&2; exit 1; }
# gql CREDENTIAL QUERY [VARIABLES-JSON]: the answer of /graphql.
gql() {
  jq -n --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}' |
    curl -sS "$base/graphql" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d @-
}
login() {
  jq -n --arg e "$1" --arg p "$2" '{email: $e, password: $p}' |
    curl -sS -X POST "$base/auth/login" -H 'Content-Type: application/json' -H "User-Agent: $3" -d @-
}
pw='violet cactus harbor 1987 drums'

KEY="$("$bin" bootstrap --email admin@example.com 2>/dev/null)"
for u in alice bob; do
  printf '%s\n' "$pw" | "$bin" user create --email "$u@example.com" --name "$u" --password-stdin >/dev/null 2>&1
done
"$bin" serve --addr "127.0.0.1:$port" --public-url "$base" 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done
curl -sf "$base/healthz" >/dev/null || fail "the server did not start: $(cat serve.log)"

# Alice's organization; the platform admin adds Bob; Bob signs in twice.
ALICE="$(login alice@example.com "$pw" setup | jq -r .accessToken)"
ORG="$(gql "$ALICE" 'mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }' | jq -r .data.createOrganization.id)"
[[ "$ORG" == org_* ]] || fail "createOrganization: $ORG"
BOB_ID="$(gql "$KEY" '{ users(where: {email: "bob@example.com"}) { edges { node { id } } } }' | jq -r '.data.users.edges[0].node.id')"
out="$(gql "$KEY" 'mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }' "{\"o\":\"$ORG\",\"u\":\"$BOB_ID\"}")"
[[ "$(jq -r .data.addMember.id <<<"$out")" == mem_* ]] || fail "addMember: $out"
for agent in laptop phone; do
  [[ "$(login bob@example.com "$pw" "$agent" | jq -r .sessionID)" == ses_* ]] || fail "Bob's sign-in"
done

# The example, with the admin's key from the environment.
(cd "$root/examples/adminclient" &&
  IDENTITY_URL="$base" IDENTITY_API_KEY="$KEY" go run . -org "$ORG" -user bob@example.com -invite carol@example.com) >example.out 2>example.err ||
  fail "the example failed: $(cat example.out example.err)"
cat example.out
for want in \
  '^viewer: api_key of admin@example.com, platform role superadmin$' \
  '^organization: Acme \(acme\), 2 members$' \
  '^member: alice@example.com roles=owner status=active$' \
  '^member: bob@example.com roles=member status=active$' \
  '^invited: carol@example.com status=pending expires=' \
  "^sessions: 2 live of $BOB_ID\$" \
  '^session: ses_.* agent="laptop"' \
  '^session: ses_.* agent="phone"' \
  '^revoked: session ses_[0-9A-Z]+ reason=revoked$' \
  '^banned: bob@example.com reason="example: abuse report" until=' \
  '^unbanned: bob@example.com banned=false status=active$'; do
  grep -Eq "$want" example.out || fail "no line matching $want"
done

# What the example did is in the database, seen through the API.
out="$(gql "$KEY" '{ invitations: node(id: "'"$ORG"'") { ... on Organization { invitations { edges { node { email status } } } } } }')"
[[ "$(jq -r '.data.invitations.invitations.edges[0].node | .email + " " + .status' <<<"$out")" == "carol@example.com pending" ]] || fail "invitation: $out"
out="$(gql "$KEY" '{ sessions(where: {userID: "'"$BOB_ID"'", revokedAtIsNil: true}) { totalCount } }')"
[[ "$(jq -r .data.sessions.totalCount <<<"$out")" == 0 ]] || fail "Bob's sessions after the ban: $out"

# A wrong key: the example exits non-zero and names the code.
if (cd "$root/examples/adminclient" && go run . -url "$base" -key cfk_wrong -user bob@example.com -invite x@example.com) >bad.out 2>&1; then
  fail "the example succeeded with a wrong key: $(cat bad.out)"
fi
grep -q 'viewer: UNAUTHENTICATED' bad.out || fail "wrong key: $(cat bad.out)"
echo "typed client example: ok (viewer, members, invite, sessions, revoke, ban, unban; a wrong key refused)"
