// Package graphiql serves the GraphiQL page of cf identity with its scripts
// and styles embedded in the binary, so the page works without internet
// access and under a Content-Security-Policy that allows only the server
// itself ('self').
//
// The assets are the minified builds of graphiql@3.9.0, react@18.3.1 and
// react-dom@18.3.1 from the npm registry (see assets/README.md).
package graphiql

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Version is the GraphiQL version of the embedded assets. It is part of the
// asset URLs, so a new version is never served from a stale cache.
const Version = "3.9.0"

// AssetPrefix is the URL path under which Handler serves the assets.
const AssetPrefix = "/graphiql/" + Version + "/"

//go:embed assets/*.js assets/*.css assets/LICENSE.*
var assets embed.FS

// ContentSecurityPolicy is the policy of the page: scripts, styles and
// connections to the server itself only; fonts and images also from data:
// URLs (GraphiQL's stylesheet inlines its fonts and icons); no framing, no
// plugins, no form posts. GraphiQL sets element styles from script, which
// needs 'unsafe-inline' for style attributes only (style-src-attr); no
// script is inline or evaluated.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; " +
	"font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.Prefix}}graphiql.min.css">
<link rel="stylesheet" href="{{.Prefix}}page.css">
</head>
<body>
<div id="graphiql" data-endpoint="{{.Endpoint}}">Loading GraphiQL…</div>
<script src="{{.Prefix}}react.production.min.js"></script>
<script src="{{.Prefix}}react-dom.production.min.js"></script>
<script src="{{.Prefix}}graphiql.min.js"></script>
<script src="{{.Prefix}}app.js"></script>
</body>
</html>
`))

// pageCSS sizes the GraphiQL root to the window.
const pageCSS = "html, body, #graphiql { height: 100%; margin: 0; overflow: hidden; }\n"

// Handler returns a handler of the GraphiQL page, at any path not under
// AssetPrefix, and of its assets under AssetPrefix. The page sends queries
// to endpoint and opens the headers editor with an Authorization header to
// fill in; headers are not stored in the browser. Every answer carries
// ContentSecurityPolicy, X-Frame-Options: DENY and
// X-Content-Type-Options: nosniff; assets are cacheable for a year (their
// URLs change with Version), the page is not cached.
func Handler(title, endpoint string) http.Handler {
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct{ Title, Endpoint, Prefix string }{title, endpoint, AssetPrefix}); err != nil {
		panic(err) // the template and its data are fixed
	}
	html := buf.Bytes()
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
		if !ok {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(html)
			return
		}
		var body []byte
		if name == "page.css" {
			body = []byte(pageCSS)
		} else if name != "" && !strings.Contains(name, "/") {
			body, _ = fs.ReadFile(sub, name)
		}
		if body == nil {
			http.NotFound(w, r)
			return
		}
		switch path.Ext(name) {
		case ".js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		case ".css":
			h.Set("Content-Type", "text/css; charset=utf-8")
		default:
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		_, _ = w.Write(body) //nolint:gosec // body is an asset embedded in the binary, served with its own content type; no request data reaches it
	})
}
