#!/usr/bin/env bash
# The README's activity-trail walkthrough, run against the built binary on
# a fresh embedded SQLite database: an owner gives a member a role, reads
# the organization's feed with the old and new roles, exports the trail and
# verifies the file offline; a row edited in the database is named by
# verify; preferences are set at three levels and read with their source;
# both statistics queries answer. Exits non-zero on the first surprise.
set -euo pipefail
bin="$1"
work="$(mktemp -d)"
cd "$work"
export IDENTITY_DATABASE_URL="sqlite://$work/identity.db"
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
fail() { echo "activity walkthrough: $*" >&2; exit 1; }
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
for u in alice bob carol; do
  printf '%s\n' "$pw" | "$bin" user create --email "$u@example.com" --name "$u" --password-stdin >/dev/null 2>&1
done
# A schema for one preference key: the server refuses values that break it.
mkdir schemas
echo '{"type": "object", "properties": {"mode": {"enum": ["light", "dark"]}}}' >schemas/ui.theme.json
"$bin" serve --addr "127.0.0.1:$port" --public-url "$base" --preference-schemas schemas 2>serve.log &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.2; done

ALICE="$(login alice@example.com "$pw" | jq -r .accessToken)"
BOB_ID="$(gql "$KEY" '{ users(where: {email: "bob@example.com"}) { edges { node { id } } } }' | jq -r '.data.users.edges[0].node.id')"
ORG="$(gql "$ALICE" 'mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }' | jq -r .data.createOrganization.id)"
[[ "$ORG" == org_* ]] || fail "createOrganization: $ORG"
# The platform admin adds Bob (an organization admin would invite him).
BOB_M="$(gql "$KEY" 'mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }' "{\"o\":\"$ORG\",\"u\":\"$BOB_ID\"}" | jq -r .data.addMember.id)"
[[ "$BOB_M" == mem_* ]] || fail "addMember: $BOB_M"

# Alice makes Bob an admin; a second assignment of the same role changes
# nothing and records nothing.
ADMIN_ROLE="rol_00000000000000000000000002"
for _ in 1 2; do
  out="$(gql "$ALICE" 'mutation ($m: ID!, $r: ID!) { assignRole(membershipID: $m, roleID: $r) { id } }' "{\"m\":\"$BOB_M\",\"r\":\"$ADMIN_ROLE\"}")"
  [[ "$(jq -r .data.assignRole.id <<<"$out")" == "$BOB_M" ]] || fail "assignRole: $out"
done

# The organization's feed, newest first, with the old and new roles.
feed="$(gql "$ALICE" 'query ($o: ID!) { activities(first: 10, where: {organizationID: $o, verbHasPrefix: "role."}) { edges { node { verb occurredAt actor { type display } data } } } }' "{\"o\":\"$ORG\"}")"
echo "$feed" | jq -c '.data.activities.edges[].node'
[[ "$(jq '.data.activities.edges | length' <<<"$feed")" == 1 ]] || fail "want exactly one role.assigned row: $feed"
node="$(jq '.data.activities.edges[0].node' <<<"$feed")"
[[ "$(jq -r .verb <<<"$node")" == role.assigned ]] || fail "verb: $node"
[[ "$(jq -r .actor.display <<<"$node")" == alice ]] || fail "actor display: $node"
[[ "$(jq -c .data.changes.roles.old <<<"$node")" == '["member"]' ]] || fail "old roles: $node"
[[ "$(jq -c .data.changes.roles.new <<<"$node")" == '["admin","member"]' ]] || fail "new roles: $node"

# A preference at three levels: the effective value merges them and names
# the level it came from.
setp() { gql "$1" 'mutation ($i: SetPreferenceInput!) { setPreference(input: $i) { key version } }' "$2"; }
out="$(setp "$KEY" '{"i":{"level":"system","key":"ui.theme","value":{"mode":"light","accent":"blue"}}}')"
[[ "$(jq -r .data.setPreference.version <<<"$out")" == 1 ]] || fail "system preference: $out"
out="$(setp "$ALICE" "{\"i\":{\"level\":\"organization\",\"organizationID\":\"$ORG\",\"key\":\"UI.Theme\",\"value\":{\"accent\":\"red\"}}}")"
[[ "$(jq -r .data.setPreference.key <<<"$out")" == ui.theme ]] || fail "organization preference: $out"
out="$(setp "$ALICE" '{"i":{"level":"user","key":"ui.theme","value":{"mode":"dark"},"expectedVersion":0}}')"
[[ "$(jq -r .data.setPreference.version <<<"$out")" == 1 ]] || fail "user preference: $out"
out="$(setp "$ALICE" '{"i":{"level":"user","key":"ui.theme","value":{"mode":"sepia"},"expectedVersion":1}}')"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == BAD_USER_INPUT ]] || fail "a value against the schema: $out"
out="$(setp "$ALICE" '{"i":{"level":"user","key":"ui.theme","value":{"mode":"light"},"expectedVersion":7}}')"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == CONFLICT ]] || fail "a stale version: $out"
eff="$(gql "$ALICE" 'query ($o: ID!) { effectivePreferences(organizationID: $o, keys: ["ui.theme"]) { key value source layers { level version } } }' "{\"o\":\"$ORG\"}")"
echo "$eff" | jq -c '.data.effectivePreferences[0]'
[[ "$(jq -c '.data.effectivePreferences[0].value' <<<"$eff")" == '{"accent":"red","mode":"dark"}' ]] || fail "effective value: $eff"
[[ "$(jq -r '.data.effectivePreferences[0].source' <<<"$eff")" == user ]] || fail "source: $eff"
[[ "$(jq -c '[.data.effectivePreferences[0].layers[].level]' <<<"$eff")" == '["system","organization","user"]' ]] || fail "layers: $eff"

# Both statistics queries.
ps="$(gql "$KEY" '{ platformStats { usersByStatus { status count } organizations activeSessions activities24h signIns24h newUsersPerDay { day count } } }')"
echo "$ps" | jq -c .data.platformStats
[[ "$(jq -r .data.platformStats.organizations <<<"$ps")" == 1 ]] || fail "platformStats: $ps"
[[ "$(jq -r '.data.platformStats.usersByStatus[] | select(.status == "active") | .count' <<<"$ps")" == 4 ]] || fail "active users: $ps"
[[ "$(jq -r .data.platformStats.signIns24h <<<"$ps")" -ge 1 ]] || fail "sign-ins: $ps"
os="$(gql "$ALICE" 'query ($o: ID!) { organizationStats(id: $o) { membersByStatus { status count } membersByRole { key count } activities24h } }' "{\"o\":\"$ORG\"}")"
echo "$os" | jq -c .data.organizationStats
[[ "$(jq -r '.data.organizationStats.membersByRole[] | select(.key == "admin") | .count' <<<"$os")" == 1 ]] || fail "organizationStats: $os"
out="$(gql "$ALICE" '{ platformStats { organizations } }')"
[[ "$(jq -r '.errors[0].extensions.code' <<<"$out")" == FORBIDDEN ]] || fail "platformStats for an owner: $out"

# Export the organization's trail and verify the file offline.
"$bin" activity export --organization "$ORG" --output trail.jsonl
[[ "$(wc -l <trail.jsonl)" -ge 3 ]] || fail "export: $(cat trail.jsonl)"
"$bin" activity verify --file trail.jsonl | tee verify-file.out
grep -q "chain $ORG: ok" verify-file.out || fail "verify --file: $(cat verify-file.out)"
# Alice downloads the same trail over HTTP; Carol (not a member) cannot.
curl -sSf "$base/activity/export?organization=$ORG" -H "Authorization: Bearer $ALICE" -o download.jsonl
"$bin" activity verify --file download.jsonl | grep -q "chain $ORG: ok" || fail "verify of the download: $(cat download.jsonl)"
CAROL="$(login carol@example.com "$pw" | jq -r .accessToken)"
code="$(curl -s -o /dev/null -w '%{http_code}' "$base/activity/export?organization=$ORG" -H "Authorization: Bearer $CAROL")"
[[ "$code" == 404 ]] || fail "Carol's export answered $code"
"$bin" activity verify | tee verify-db.out
grep -q "chain $ORG: ok" verify-db.out || fail "verify: $(cat verify-db.out)"

# Someone with database access rewrites history: verify names the row.
sqlite3 "$work/identity.db" "UPDATE cf_activities SET verb = 'role.unassigned' WHERE verb = 'role.assigned'"
row="$(sqlite3 "$work/identity.db" "SELECT id FROM cf_activities WHERE verb = 'role.unassigned'")"
if "$bin" activity verify --organization "$ORG" >verify-tampered.out; then
  fail "verify passed after an edit: $(cat verify-tampered.out)"
fi
cat verify-tampered.out
grep -q "BROKEN: altered" verify-tampered.out || fail "verify did not say altered: $(cat verify-tampered.out)"
grep -q "$row" verify-tampered.out || fail "verify did not name row $row: $(cat verify-tampered.out)"
# The export taken before still verifies: the customer's copy is the proof.
"$bin" activity verify --file trail.jsonl >/dev/null || fail "the earlier export stopped verifying"
echo "activity walkthrough: ok"
