package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cf/identity/preference"
)

// declareSchemas declares the JSON Schema of each file KEY.json of dir for
// preference key KEY, and returns how many it declared. A file that is
// not a valid schema, or a key that is not a valid key, fails the start.
func declareSchemas(dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, fmt.Errorf("--preference-schemas %s: %w", dir, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return 0, fmt.Errorf("--preference-schemas: %w", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("--preference-schemas: %w", err)
		}
		key := strings.TrimSuffix(filepath.Base(f), ".json")
		if err := preference.Declare(key, b); err != nil {
			return 0, fmt.Errorf("--preference-schemas: %s: %w", f, err)
		}
	}
	return len(files), nil
}
