package permission

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestBuiltinsUseTheCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Builtins {
		if seen[b.Key] {
			t.Errorf("duplicate built-in role %q", b.Key)
		}
		seen[b.Key] = true
		for _, p := range b.Permissions {
			if !Known(p) {
				t.Errorf("role %s holds %q, which is not in the catalog", b.Key, p)
			}
		}
	}
	for i := 1; i < len(Builtins); i++ {
		if Builtins[i].Level >= Builtins[i-1].Level {
			t.Errorf("role %s (level %d) is not below %s (level %d)", Builtins[i].Key, Builtins[i].Level, Builtins[i-1].Key, Builtins[i-1].Level)
		}
	}
}

// The README's permission table must list the catalog exactly.
func TestREADMEListsTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	re := regexp.MustCompile("(?m)^\\| `([a-z_]+:[a-z_]+)` \\|(.*)$")
	rows := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(readme, -1) {
		rows[m[1]] = m[2]
	}
	for _, e := range Catalog {
		row, ok := rows[e.Name]
		if !ok {
			t.Errorf("README permission tables lack %s", e.Name)
			continue
		}
		cells := strings.Split(row, "|")
		var holders []string
		var holds func(holder string) bool
		if e.Platform {
			holders = []string{"support", "admin", "superadmin"}
			holds = func(h string) bool { return slices.Contains(Platform(h), e.Name) }
		} else {
			for _, b := range Builtins {
				holders = append(holders, b.Key)
			}
			holds = func(h string) bool {
				for _, b := range Builtins {
					if b.Key == h {
						return slices.Contains(b.Permissions, e.Name)
					}
				}
				return false
			}
		}
		for i, h := range holders {
			if has := strings.Contains(cells[1+i], "✓"); has != holds(h) {
				t.Errorf("README says %s holds %s: %v; the code says %v", h, e.Name, has, holds(h))
			}
		}
	}
	if len(rows) != len(Catalog) {
		t.Errorf("README tables have %d rows, the catalog has %d permissions", len(rows), len(Catalog))
	}
}
