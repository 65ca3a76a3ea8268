package graph_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/internal/testdb"
)

// TestActivityExportEndpoint: an organization's owner downloads its trail
// and the file verifies offline; a member without activity:read, another
// organization's owner and a caller without a credential get nothing, and
// malformed parameters are BAD_USER_INPUT.
func TestActivityExportEndpoint(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		// Bob (member, viewer: no activity:read) gets a role: a row to export.
		gqlOn(t, e.srv, e.ownerKey, `mutation ($m: ID!, $r: ID!) { assignRole(membershipID: $m, roleID: $r) { id } }`,
			map[string]any{"m": e.bobM, "r": viewerRoleID}, nil)
		_, _, otherOwner := e.orgFixture(t, "globex")
		get := func(key string, q url.Values) (int, []byte) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/activity/export?"+q.Encode(), nil)
			if key != "" {
				req.Header.Set("Authorization", bearer(key))
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, b
		}
		org := url.Values{"organization": {string(e.org.ID)}}
		status, body := get(e.ownerKey, org)
		if status != 200 {
			t.Fatalf("owner's export: %d %s", status, body)
		}
		reports, err := activitylog.VerifyFile(bytes.NewReader(body))
		if err != nil || len(reports) != 1 || !reports[0].OK() || reports[0].Rows < 3 || reports[0].Chain != string(e.org.ID) {
			t.Fatalf("verify of the download = %+v, %v\n%s", reports, err, body)
		}
		assertNoSecretsIn(t, body)
		cases := []struct {
			name, key string
			q         url.Values
			status    int
		}{
			{"a member without activity:read", e.bobKey, org, http.StatusNotFound},
			{"another organization's owner", otherOwner, org, http.StatusNotFound},
			{"no credential", "", org, http.StatusUnauthorized},
			{"a user ID for the organization", e.ownerKey, url.Values{"organization": {string(e.bob.ID)}}, http.StatusBadRequest},
			{"no organization", e.ownerKey, url.Values{}, http.StatusBadRequest},
			{"since not a time", e.ownerKey, url.Values{"organization": {string(e.org.ID)}, "since": {"yesterday"}}, http.StatusBadRequest},
		}
		for _, tc := range cases {
			status, body := get(tc.key, tc.q)
			if status != tc.status || bytes.Contains(body, []byte(`"verb"`)) {
				t.Errorf("%s: %d %s, want %d and no activity", tc.name, status, body, tc.status)
			}
		}
	})
}

// assertNoSecretsIn fails when an export holds a secret's field name.
func assertNoSecretsIn(t *testing.T, b []byte) {
	t.Helper()
	for _, bad := range []string{"password_hash\":\"", "secret_hash\":\"", "token_digest\":\"", "cfk_", "cfinv_"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("the export holds %q", bad)
		}
	}
}
