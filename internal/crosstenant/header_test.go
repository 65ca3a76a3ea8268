package crosstenant_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
)

// X-Organization-ID over HTTP: it restricts platform staff, an unknown
// organization is refused (BAD_USER_INPUT to staff, who may read every
// organization; FORBIDDEN, as for a foreign organization, to everyone
// else), and own rows of other organizations are out of reach under it.
func TestActiveOrganizationHeader(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		client, _ := testdb.Migrated(t, db)
		srv := httptest.NewServer(graph.NewHandler(client, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Sessions: newSessions(t, client)}))
		t.Cleanup(srv.Close)
		f := buildFixture(t, client)
		s := &suite{db: db, client: client, srv: srv, f: f}
		unknown := "org_" + unknownULID

		type answer struct {
			status int
			code   string
			data   string
		}
		ask := func(key, org, query string, vars map[string]any) answer {
			t.Helper()
			h := map[string]string{}
			if org != "" {
				h["X-Organization-ID"] = org
			}
			r, err := s.post(key, query, vars, h)
			if err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			a := answer{status: r.status, data: string(r.data)}
			if len(r.errors) > 0 {
				a.code = r.errors[0].code()
			}
			return a
		}
		count := `{ organizations { totalCount } }`
		tests := []struct {
			name  string
			key   string
			org   string
			query string
			vars  map[string]any
			want  answer
		}{
			{"superadmin, unknown organization", f.superKey, unknown, count, nil, answer{http.StatusBadRequest, graph.CodeBadUserInput, ""}},
			{"support, unknown organization", f.supportKey, unknown, count, nil, answer{http.StatusBadRequest, graph.CodeBadUserInput, ""}},
			{"member, unknown organization", f.memberBKey, unknown, count, nil, answer{http.StatusForbidden, graph.CodeForbidden, ""}},
			{"member, foreign organization", f.memberBKey, string(f.orgA), count, nil, answer{http.StatusForbidden, graph.CodeForbidden, ""}},
			{"superadmin in B counts B only", f.superKey, string(f.orgB), count, nil, answer{http.StatusOK, "", `{"organizations":{"totalCount":1}}`}},
			{"superadmin in B updating A", f.superKey, string(f.orgB),
				`mutation($id: ID!) { updateOrganization(id: $id, input: {name: "pwned"}) { id } }`, map[string]any{"id": f.orgA},
				answer{http.StatusOK, graph.CodeNotFound, ""}},
			{"member of A and B, in B, removing its membership of A", f.sharedKey, string(f.orgB),
				`mutation($id: ID!) { removeMember(id: $id) }`, map[string]any{"id": s.membershipOf(f.orgA, f.shared)},
				answer{http.StatusOK, graph.CodeNotFound, ""}},
			{"member of A and B, in B, revoking its session of A", f.sharedKey, string(f.orgB),
				`mutation($id: ID!) { revokeSession(id: $id) { id } }`, map[string]any{"id": f.sessions[f.orgA][f.shared]},
				answer{http.StatusOK, graph.CodeNotFound, ""}},
			{"member of A and B, in B, revoking all its sessions", f.sharedKey, string(f.orgB),
				`mutation($id: ID!) { revokeUserSessions(userID: $id) }`, map[string]any{"id": f.shared},
				answer{http.StatusOK, "", `{"revokeUserSessions":1}`}},
		}
		for _, tt := range tests {
			got := ask(tt.key, tt.org, tt.query, tt.vars)
			if got.status != tt.want.status || got.code != tt.want.code || (tt.want.code == "" && !jsonEqual(got.data, tt.want.data)) {
				t.Errorf("%s: HTTP %d %s %s; want HTTP %d %s %s", tt.name, got.status, got.code, got.data, tt.want.status, tt.want.code, tt.want.data)
			}
		}
		// The member of A and B acting in B sees memberships of B only
		// (its own of A is out of reach), and it still sees its own of B.
		own := `{ memberships { totalCount edges { node { id organization { id } } } } }`
		if r, _ := s.post(f.sharedKey, own, nil, map[string]string{"X-Organization-ID": string(f.orgB)}); strings.Contains(string(r.raw), string(f.orgA)) ||
			!strings.Contains(string(r.raw), string(s.membershipOf(f.orgB, f.shared))) || len(r.errors) > 0 {
			t.Errorf("memberships of the member of A and B in B: %s", r.raw)
		}
		if r, _ := s.post(f.sharedKey, own, nil, nil); !strings.Contains(string(r.raw), string(s.membershipOf(f.orgA, f.shared))) {
			t.Errorf("without the header, the member of A and B does not see its membership of A: %s", r.raw)
		}
		// So with its sessions: in B, its session of B (revoked above) and
		// not its session of A, which is still live.
		sessions := `{ sessions { totalCount edges { node { id organizationID revokedAt } } } }`
		sesA, sesB := f.sessions[f.orgA][f.shared], f.sessions[f.orgB][f.shared]
		if r, _ := s.post(f.sharedKey, sessions, nil, map[string]string{"X-Organization-ID": string(f.orgB)}); strings.Contains(string(r.raw), string(f.orgA)) ||
			!strings.Contains(string(r.raw), string(sesB)) || len(r.errors) > 0 {
			t.Errorf("sessions of the member of A and B in B: %s", r.raw)
		}
		if r, _ := s.post(f.sharedKey, sessions, nil, nil); !strings.Contains(string(r.raw), string(sesA)) {
			t.Errorf("without the header, the member of A and B does not see its session of A: %s", r.raw)
		}
		if got := client.Session.GetX(sysCtx(), sesA); got.RevokedAt != nil {
			t.Errorf("revoking its sessions in B revoked its session of A too")
		}
		if got := client.Session.GetX(sysCtx(), sesB); got.RevokedAt == nil {
			t.Errorf("revoking its sessions in B left its session of B live")
		}
		// To a member, an unknown organization and a foreign one look the
		// same.
		a, _ := s.post(f.memberBKey, count, nil, map[string]string{"X-Organization-ID": unknown})
		b, _ := s.post(f.memberBKey, count, nil, map[string]string{"X-Organization-ID": string(f.orgA)})
		if string(a.raw) != string(b.raw) {
			t.Errorf("a member tells an unknown organization from a foreign one:\n unknown: %s\n foreign: %s", a.raw, b.raw)
		}
		if r, _ := s.post(f.superKey, count, nil, map[string]string{"X-Organization-ID": unknown}); !strings.Contains(string(r.raw), "X-Organization-ID") {
			t.Errorf("the refusal of an unknown organization does not name the header: %s", r.raw)
		}
	})
}

func (s *suite) membershipOf(org, user pulid.ID) pulid.ID {
	id, err := s.client.Membership.Query().Where(membership.OrganizationID(org), membership.UserID(user)).OnlyID(sysCtx())
	if err != nil {
		panic(err)
	}
	return id
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
