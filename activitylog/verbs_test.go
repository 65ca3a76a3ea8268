package activitylog_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cf/identity/activitylog"
)

// verbLiteral matches a string literal shaped like a verb of one of the
// trail's objects.
var verbLiteral = regexp.MustCompile(`"((?:user|member|membership|role|session|invitation|organization|api_key|oauth_account|preference|activity|keys|feature|refresh_token|signing_key|user_token)\.[a-z_]+)"`)

// TestVerbCatalog: every verb the code records is in the catalog, and the
// README lists every verb of the catalog.
func TestVerbCatalog(t *testing.T) {
	var used []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "ent" || d.Name() == "generated" || d.Name() == "examples" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range verbLiteral.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(used, m[1]) {
				used = append(used, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 30 {
		t.Fatalf("found only %d verbs in the code: is the walk wrong?", len(used))
	}
	for _, v := range used {
		if !activitylog.KnownVerb(v) {
			t.Errorf("the code records %q, which is not in activitylog.Verbs: add it (and to the README)", v)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range activitylog.Verbs {
		if !strings.Contains(string(readme), "| `"+v.Name+"` |") {
			t.Errorf("the README's verb table lacks `%s`", v.Name)
		}
	}
	for _, v := range []string{"user.updated", "api_key.created", "role.deleted"} {
		if !activitylog.KnownVerb(v) {
			t.Errorf("generic verb %s not known", v)
		}
	}
	for _, v := range []string{"user.nope", "nobody.created", "role", ""} {
		if activitylog.KnownVerb(v) {
			t.Errorf("%q known", v)
		}
	}
}
