package bench_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/pulid"
)

// Each workload has the product's side (ent client, or the GraphQL
// handler) and a hand-written baseline that returns the same data. Both
// are functions of an env, so that the benchmarks, the equality tests and
// the statement-count test run the same code.

// ---- W1: a tenant-scoped read by ID ----

// memberRow is a membership as both sides of W1 return it.
type memberRow struct {
	ID, OrganizationID, UserID string
	Status                     string
	ManagerID, InvitedByID     *string
	Department, Title          string
	CreatedAt, UpdatedAt       time.Time
	JoinedAt                   *time.Time
}

// w1ID is the membership W1 reads: member 7 of the actor's fourth
// organization.
func (e *env) w1ID() pulid.ID { return e.fx.MembershipID(3, 7) }

// w1Ent reads the membership through the ent client as the actor, whose
// grants are already on e.actx (privacy on).
func (e *env) w1Ent(ctx context.Context) (memberRow, error) {
	m, err := e.client.Membership.Get(e.actx, e.w1ID())
	if err != nil {
		return memberRow{}, err
	}
	r := memberRow{ID: string(m.ID), OrganizationID: string(m.OrganizationID), UserID: string(m.UserID), Status: string(m.Status),
		Department: m.Department, Title: m.Title, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
	if m.ManagerID != nil {
		s := string(*m.ManagerID)
		r.ManagerID = &s
	}
	if m.InvitedByID != nil {
		s := string(*m.InvitedByID)
		r.InvitedByID = &s
	}
	if m.JoinedAt != nil {
		t := m.JoinedAt.UTC()
		r.JoinedAt = &t
	}
	return r, nil
}

// w1Orgs are the organizations in which the actor holds member:read, the
// baseline's tenant predicate (the product reads them from the grants on
// e.actx, resolved once, too).
func (e *env) w1Orgs() []any {
	orgs := make([]any, e.fx.Shape.ActorOrgs)
	for i := range orgs {
		orgs[i] = string(e.fx.OrgID(i))
	}
	return orgs
}

// w1Base reads the same row with one QueryRow and the tenant predicate.
func (e *env) w1Base(ctx context.Context) (memberRow, error) {
	orgs := e.w1Orgs()
	args := append([]any{string(e.w1ID())}, orgs...)
	var r memberRow
	err := e.base.queryRow(ctx, `SELECT id, organization_id, user_id, status, manager_id, invited_by_id, department, title, created_at, updated_at, joined_at
		FROM cf_memberships WHERE id = ? AND organization_id IN (`+in(len(orgs))+`)`, args...).
		Scan(&r.ID, &r.OrganizationID, &r.UserID, &r.Status, &r.ManagerID, &r.InvitedByID, &r.Department, &r.Title, &r.CreatedAt, &r.UpdatedAt, &r.JoinedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if r.JoinedAt != nil {
		t := r.JoinedAt.UTC()
		r.JoinedAt = &t
	}
	return r, err
}

// ---- W2: the nested query over HTTP ----

// nestedQuery is the admin page's query of the load test: organizations,
// a page of their memberships with the user and the roles, and totals.
const nestedQuery = `query ($orgs: Int!, $members: Int!) { organizations(first: $orgs) { totalCount edges { node { id name
  memberships(first: $members) { totalCount edges { node { id status title
    user { id email displayName }
    roles(first: 10) { edges { node { key } } } } } } } } } }`

// w2Shapes are the two variants of W2: 10 organizations × 20 members,
// and 1 organization × 50 members.
var w2Shapes = []struct {
	name          string
	orgs, members int
}{{"orgs=10x20", 10, 20}, {"orgs=1x50", 1, 50}}

func nestedBody(orgs, members int) []byte {
	b, _ := json.Marshal(map[string]any{"query": nestedQuery, "variables": map[string]any{"orgs": orgs, "members": members}})
	return b
}

// serve sends body to h as a POST /graphql of the actor's API key, in
// process, and returns the answer's body.
func serve(h http.Handler, key string, body []byte) ([]byte, error) {
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		return nil, fmt.Errorf("HTTP %d: %s", rec.Code, rec.Body.Bytes())
	}
	return rec.Body.Bytes(), nil
}

// The answer of the baseline handler, shaped as GraphQL answers.
type (
	nestedAnswer struct {
		Data struct {
			Organizations orgConn `json:"organizations"`
		} `json:"data"`
	}
	orgConn struct {
		TotalCount int       `json:"totalCount"`
		Edges      []orgEdge `json:"edges"`
	}
	orgEdge struct {
		Node orgNode `json:"node"`
	}
	orgNode struct {
		ID          string  `json:"id"`
		Name        string  `json:"name"`
		Memberships memConn `json:"memberships"`
	}
	memConn struct {
		TotalCount int       `json:"totalCount"`
		Edges      []memEdge `json:"edges"`
	}
	memEdge struct {
		Node memNode `json:"node"`
	}
	memNode struct {
		ID     string   `json:"id"`
		Status string   `json:"status"`
		Title  string   `json:"title"`
		User   *userRef `json:"user"`
		Roles  roleConn `json:"roles"`
	}
	userRef struct {
		ID          string `json:"id"`
		Email       string `json:"email"`
		DisplayName string `json:"displayName"`
	}
	roleConn struct {
		Edges []roleEdge `json:"edges"`
	}
	roleEdge struct {
		Node struct {
			Key string `json:"key"`
		} `json:"node"`
	}
)

// baseKey is what the baseline's authentication yields.
type baseKey struct {
	KeyID, UserID, OrganizationID string
	Scopes                        []string
}

func (k baseKey) hasScope(p string) bool {
	return slices.Contains(k.Scopes, actor.ScopeAll) || slices.Contains(k.Scopes, p)
}

var errBaseAuth = errors.New("baseline: invalid credential")

// baseAuthKey authenticates an API key as apikey.Authenticate does: the
// public prefix finds the key and its owner in one statement, the SHA-256
// digest of the whole key is compared in constant time, the key must be
// neither revoked nor expired and its owner active and not banned. It
// does not record the key's use (the product does, at most once a
// minute; the benchmarks run after that write).
func (e *env) baseAuthKey(ctx context.Context, token string) (baseKey, error) {
	rest, ok := strings.CutPrefix(token, apikey.Kind+"_")
	prefix, secretPart, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(prefix) != 8 || len(secretPart) != 52 {
		return baseKey{}, errBaseAuth
	}
	var (
		k                            baseKey
		org                          *string
		hash, scopes                 []byte
		status                       string
		revoked, expires, banned, be *time.Time
	)
	err := e.base.queryRow(ctx, `SELECT k.id, k.user_id, k.organization_id, k.secret_hash, k.scopes, k.revoked_at, k.expires_at, u.status, u.banned_at, u.ban_expires_at
		FROM cf_api_keys k JOIN cf_users u ON u.id = k.user_id WHERE k.prefix = ?`, prefix).
		Scan(&k.KeyID, &k.UserID, &org, &hash, &scopes, &revoked, &expires, &status, &banned, &be)
	if err != nil {
		return baseKey{}, err
	}
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 || revoked != nil || (expires != nil && !now.Before(*expires)) ||
		status != "active" || (banned != nil && (be == nil || now.Before(*be))) {
		return baseKey{}, errBaseAuth
	}
	if org != nil {
		k.OrganizationID = *org
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return baseKey{}, err
	}
	return k, nil
}

// orgReads are the organization read permissions a full-data-access role
// implies (as permission.OrganizationReads), of which the baseline needs
// these.
var baseReads = []string{"organization:read", "member:read", "role:read", "user:read"}

// baseGrants loads, in one statement, the permissions the key's owner
// holds in each organization through its active memberships of active,
// live organizations, narrowed by the key's scopes.
func (e *env) baseGrants(ctx context.Context, k baseKey) (map[string]map[string]bool, error) {
	q := `SELECT m.organization_id, r.permissions, r.full_data_access FROM cf_memberships m
		JOIN cf_organizations o ON o.id = m.organization_id AND o.deleted_at IS NULL AND o.status = 'active'
		JOIN cf_membership_roles mr ON mr.membership_id = m.id JOIN cf_roles r ON r.id = mr.role_id
		WHERE m.user_id = ? AND m.status = 'active'`
	args := []any{k.UserID}
	if k.OrganizationID != "" {
		q += " AND m.organization_id = ?"
		args = append(args, k.OrganizationID)
	}
	rs, err := e.base.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	g := map[string]map[string]bool{}
	for rs.Next() {
		var (
			org   string
			perms []byte
			full  bool
		)
		if err := rs.Scan(&org, &perms, &full); err != nil {
			return nil, err
		}
		var ps []string
		if err := json.Unmarshal(perms, &ps); err != nil {
			return nil, err
		}
		if full {
			ps = append(ps, baseReads...)
		}
		if g[org] == nil {
			g[org] = map[string]bool{}
		}
		for _, p := range ps {
			if k.hasScope(p) {
				g[org][p] = true
			}
		}
	}
	return g, rs.Err()
}

// holding lists, sorted, the organizations of g where p is granted.
func holding(g map[string]map[string]bool, p string) []any {
	var ids []string
	for org, ps := range g {
		if ps[p] {
			ids = append(ids, org)
		}
	}
	slices.Sort(ids)
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// baselineHandler answers nestedQuery (variables orgs and members) as
// the GraphQL server does for the same key, with net/http, the baseline
// database and encoding/json: authentication (1 statement), grants (1),
// the page of organizations with their total (1), the first members of
// each with their users and totals (1, a window), the roles of those
// memberships (1).
func (e *env) baselineHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var req struct {
			Variables struct{ Orgs, Members int }
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		k, err := e.baseAuthKey(ctx, token)
		if err != nil {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		g, err := e.baseGrants(ctx, k)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		ans, err := e.baseNested(ctx, g, req.Variables.Orgs, req.Variables.Members)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans) // the client is gone when it fails
	})
}

func (e *env) baseNested(ctx context.Context, g map[string]map[string]bool, nOrgs, nMembers int) (*nestedAnswer, error) {
	ans := &nestedAnswer{}
	ans.Data.Organizations.Edges = []orgEdge{}
	readable := holding(g, "organization:read")
	if len(readable) == 0 {
		return ans, nil
	}
	rs, err := e.base.query(ctx, `SELECT id, name, count(*) OVER () FROM cf_organizations
		WHERE deleted_at IS NULL AND id IN (`+in(len(readable))+`) ORDER BY id LIMIT ?`, append(readable, nOrgs)...)
	if err != nil {
		return nil, err
	}
	index := map[string]*orgNode{}
	var orgs []*orgNode
	for rs.Next() {
		o := &orgNode{Memberships: memConn{Edges: []memEdge{}}}
		if err := rs.Scan(&o.ID, &o.Name, &ans.Data.Organizations.TotalCount); err != nil {
			rs.Close()
			return nil, err
		}
		orgs, index[o.ID] = append(orgs, o), o
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, err
	}
	// Memberships of the page's organizations where member:read holds.
	var memberOrgs []any
	for _, o := range orgs {
		if g[o.ID]["member:read"] {
			memberOrgs = append(memberOrgs, o.ID)
		}
	}
	mems := map[string]*memNode{}
	var memIDs []any
	if len(memberOrgs) > 0 {
		// The users are looked up for the page's rows only: joined to
		// the window's output, PostgreSQL's planner hashes all users.
		rs, err = e.base.query(ctx, `SELECT p.id, p.organization_id, p.status, p.title,
				(SELECT u.id FROM cf_users u WHERE u.id = p.user_id AND u.deleted_at IS NULL),
				(SELECT u.email FROM cf_users u WHERE u.id = p.user_id AND u.deleted_at IS NULL),
				(SELECT u.display_name FROM cf_users u WHERE u.id = p.user_id AND u.deleted_at IS NULL), p.total FROM (
			SELECT m.id, m.organization_id, m.status, m.title, m.user_id,
				row_number() OVER (PARTITION BY m.organization_id ORDER BY m.id) AS n, count(*) OVER (PARTITION BY m.organization_id) AS total
			FROM cf_memberships m WHERE m.organization_id IN (`+in(len(memberOrgs))+`)) AS p
			WHERE p.n <= ? ORDER BY p.organization_id, p.id`, append(memberOrgs, nMembers)...)
		if err != nil {
			return nil, err
		}
		for rs.Next() {
			var (
				m                memNode
				org              string
				uid, email, name *string
				total            int
			)
			if err := rs.Scan(&m.ID, &org, &m.Status, &m.Title, &uid, &email, &name, &total); err != nil {
				rs.Close()
				return nil, err
			}
			// Users are read where user:read holds (here: where the
			// membership is, the only organization they share).
			if uid != nil && g[org]["user:read"] {
				m.User = &userRef{ID: *uid, Email: *email, DisplayName: *name}
			}
			m.Roles.Edges = []roleEdge{}
			o := index[org]
			o.Memberships.TotalCount = total
			o.Memberships.Edges = append(o.Memberships.Edges, memEdge{Node: m})
			memIDs = append(memIDs, m.ID)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, err
		}
		for _, o := range orgs {
			for i := range o.Memberships.Edges {
				mems[o.Memberships.Edges[i].Node.ID] = &o.Memberships.Edges[i].Node
			}
		}
	}
	if len(memIDs) > 0 {
		// Roles visible: the built-in ones, and those of organizations
		// where role:read holds; the first 10 of each membership by ID.
		roleOrgs := holding(g, "role:read")
		q := `SELECT membership_id, key FROM (SELECT mr.membership_id, r.key, row_number() OVER (PARTITION BY mr.membership_id ORDER BY r.id) AS n
			FROM cf_membership_roles mr JOIN cf_roles r ON r.id = mr.role_id
			WHERE mr.membership_id IN (` + in(len(memIDs)) + `) AND (r.organization_id IS NULL`
		if len(roleOrgs) > 0 {
			q += ` OR r.organization_id IN (` + in(len(roleOrgs)) + `)`
		}
		q += `)) AS p WHERE n <= 10 ORDER BY membership_id, n`
		rs, err = e.base.query(ctx, q, append(memIDs, roleOrgs...)...)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			var re roleEdge
			if err := rs.Scan(&id, &re.Node.Key); err != nil {
				return nil, err
			}
			m := mems[id]
			m.Roles.Edges = append(m.Roles.Edges, re)
		}
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	for _, o := range orgs {
		ans.Data.Organizations.Edges = append(ans.Data.Organizations.Edges, orgEdge{Node: *o})
	}
	return ans, nil
}

// ---- W3: authentication alone ----

// w3Ent turns a bearer credential into an actor as /graphql does
// (credential.Authenticator with a usage recorder), without resolving its
// grants.
func (e *env) w3Ent(ctx context.Context, bearer string) (*actor.Actor, error) {
	return e.auth.Authenticate(ctx, bearer, time.Now())
}

// baseActor is what the baseline's authentication yields, for both kinds.
type baseActor struct {
	UserID, KeyID, SessionID, OrganizationID string
}

// w3BaseKey is baseAuthKey.
func (e *env) w3BaseKey(ctx context.Context, token string) (baseActor, error) {
	k, err := e.baseAuthKey(ctx, token)
	return baseActor{UserID: k.UserID, KeyID: k.KeyID, OrganizationID: k.OrganizationID}, err
}

// w3BaseToken checks an access token as session.Manager.Authenticate
// does: go-jose verifies the EdDSA signature with the public key its kid
// names, the claims are checked (issuer, audience, expiry), and one
// statement finds the session alive.
func (e *env) w3BaseToken(ctx context.Context, token string) (baseActor, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(jws.Signatures) != 1 {
		return baseActor{}, errBaseAuth
	}
	kid := jws.Signatures[0].Protected.KeyID
	var payload []byte
	for _, k := range e.jwks {
		if k.ID == kid {
			payload, err = jws.Verify(k.Key)
			break
		}
	}
	if payload == nil || err != nil {
		return baseActor{}, errBaseAuth
	}
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Sub string          `json:"sub"`
		Sid string          `json:"sid"`
		Org string          `json:"org"`
		Exp int64           `json:"exp"`
		Act *struct {
			Sub string `json:"sub"`
		} `json:"act"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return baseActor{}, errBaseAuth
	}
	now := time.Now()
	if c.Iss != "cf-identity" || !bytes.Contains(c.Aud, []byte(`"cf-identity"`)) || now.Unix() >= c.Exp || c.Act != nil {
		return baseActor{}, errBaseAuth
	}
	var one int
	if err := e.base.queryRow(ctx, `SELECT 1 FROM cf_sessions WHERE id = ? AND user_id = ? AND impersonator_id IS NULL
		AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?`, c.Sid, c.Sub, now, now).Scan(&one); err != nil {
		return baseActor{}, err
	}
	return baseActor{UserID: c.Sub, SessionID: c.Sid, OrganizationID: c.Org}, nil
}

// ---- W4: a write with its activity ----

// w4Ent creates a personal API key of the actor with credential.CreateAPIKey
// (policy, transaction, the audit hook's activity and its hash chain).
func (e *env) w4Ent(ctx context.Context) (string, error) {
	key, _, err := credential.CreateAPIKey(e.actx, e.client, apikey.Params{Name: "w4", Scopes: []string{actor.ScopeAll}})
	return key, err
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// w4Base writes the same key and an activity row in one transaction of
// two inserts. It does not take the chain-head lock nor compute the hash
// chain: the activity goes to a chain of its own ("bench-baseline") at a
// position the clock gives.
func (e *env) w4Base(ctx context.Context) (string, error) {
	var p [5]byte
	var s [32]byte
	rand.Read(p[:])
	rand.Read(s[:])
	prefix := strings.ToLower(tokenEncoding.EncodeToString(p[:]))
	token := apikey.Kind + "_" + prefix + "_" + strings.ToLower(tokenEncoding.EncodeToString(s[:]))
	sum := sha256.Sum256([]byte(token))
	id, act := string(pulid.New("key")), string(pulid.New("act"))
	now := time.Now().UTC()
	data, _ := json.Marshal(map[string]any{"name": "w4", "scopes": []string{actor.ScopeAll}})
	err := e.base.inTx(ctx, func(exec func(string, ...any) error) error {
		if err := exec(`INSERT INTO cf_api_keys (id, created_at, updated_at, name, prefix, secret_hash, scopes, user_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, now, now, "w4", prefix, sum[:], `["*"]`, string(e.fx.Actor)); err != nil {
			return err
		}
		return exec(`INSERT INTO cf_activities (id, created_at, actor_type, actor_user_id, verb, object_type, object_id, channel, data, chain, seq, prev_hash, hash)
			VALUES (?, ?, 'user', ?, 'api_key.created', 'APIKey', ?, 'api', ?, 'bench-baseline', ?, '', '')`,
			act, now, string(e.fx.Actor), id, string(data), now.UnixNano())
	})
	return token, err
}
