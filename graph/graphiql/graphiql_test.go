package graphiql_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/cf/identity/graph/graphiql"
)

// response is what the tests read of a recorded response: the body is read
// and closed by get.
type response struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, h http.Handler, path string) (response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{StatusCode: res.StatusCode, Header: res.Header}, string(b)
}

var refs = regexp.MustCompile(`(?i)(?:src|href)="([^"]*)"`)

// The page loads everything from the handler: no external URL, every
// referenced asset served with its type.
func TestPageIsSelfContained(t *testing.T) {
	h := graphiql.Handler("cf identity", "/graphql")
	res, page := get(t, h, "/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if strings.Contains(page, "//") && regexp.MustCompile(`(?i)(https?:)?//[a-z0-9]`).MatchString(page) {
		t.Errorf("the page references an external URL:\n%s", page)
	}
	if !strings.Contains(page, `data-endpoint="/graphql"`) {
		t.Error("the page does not name the endpoint")
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "style=") {
		t.Error("the page has inline script or style, which its policy refuses")
	}
	matches := refs.FindAllStringSubmatch(page, -1)
	if len(matches) < 5 {
		t.Fatalf("the page references %d assets, want the scripts and styles of GraphiQL", len(matches))
	}
	for _, m := range matches {
		ref := m[1]
		if !strings.HasPrefix(ref, graphiql.AssetPrefix) {
			t.Errorf("asset %q is not under %s", ref, graphiql.AssetPrefix)
			continue
		}
		res, body := get(t, h, ref)
		if res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s = %d, %d bytes", ref, res.StatusCode, len(body))
			continue
		}
		want := "text/javascript"
		if strings.HasSuffix(ref, ".css") {
			want = "text/css"
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", ref, ct, want)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", ref)
		}
		if strings.HasSuffix(ref, "app.js") && regexp.MustCompile(`https?://`).MatchString(body) {
			t.Errorf("app.js references an external URL")
		}
	}
	// The stylesheet inlines its fonts: nothing to fetch from elsewhere.
	_, css := get(t, h, graphiql.AssetPrefix+"graphiql.min.css")
	for _, u := range regexp.MustCompile(`url\(([^)]*)\)`).FindAllStringSubmatch(css, -1) {
		if !strings.HasPrefix(strings.Trim(u[1], `"'`), "data:") {
			t.Errorf("stylesheet loads %.80s", u[1])
		}
	}
}

func TestHeadersAndUnknownAssets(t *testing.T) {
	h := graphiql.Handler("cf identity", "/graphql")
	cases := []struct {
		path       string
		wantStatus int
	}{
		{"/", http.StatusOK},
		{graphiql.AssetPrefix + "app.js", http.StatusOK},
		{graphiql.AssetPrefix + "LICENSE.graphiql", http.StatusOK},
		{graphiql.AssetPrefix + "nope.js", http.StatusNotFound},
		{graphiql.AssetPrefix + "../graphiql.go", http.StatusNotFound},
		{graphiql.AssetPrefix, http.StatusNotFound},
	}
	for _, tc := range cases {
		res, _ := get(t, h, tc.path)
		if res.StatusCode != tc.wantStatus {
			t.Errorf("GET %s = %d, want %d", tc.path, res.StatusCode, tc.wantStatus)
		}
		if got := res.Header.Get("Content-Security-Policy"); got != graphiql.ContentSecurityPolicy {
			t.Errorf("GET %s: CSP %q", tc.path, got)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: no X-Frame-Options: DENY", tc.path)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}
