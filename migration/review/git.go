package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A Base is the revision a change is reviewed against: the files that are
// already merged. Its zero value is "no base": every migration file is new
// and the GraphQL schema has nothing to be compared with.
type Base struct {
	// Ref is the revision as asked for or chosen ("main", "origin/main",
	// a commit).
	Ref string
	// Commit is the full hash of the base commit; "" when there is no base.
	Commit string
	// Note says how the base was chosen or why there is none.
	Note string
	// top is the root of the git work tree.
	top string
}

// Available reports whether there is a base to compare with.
func (b Base) Available() bool { return b.Commit != "" }

// Short returns the abbreviated commit hash.
func (b Base) Short() string {
	if len(b.Commit) > 12 {
		return b.Commit[:12]
	}
	return b.Commit
}

// DefaultBaseRefs are tried in order when no base is given: the merge base of
// HEAD with the first that exists.
var DefaultBaseRefs = []string{"main", "origin/main"}

// FindBase resolves the base of the git work tree that holds dir. With ref
// empty, it is the merge base of HEAD with main (or origin/main). When git is
// missing, dir is not in a work tree or the ref does not exist, FindBase
// returns a Base without commit whose Note says why.
func FindBase(ctx context.Context, dir, ref string) Base {
	if _, err := exec.LookPath("git"); err != nil {
		return Base{Ref: ref, Note: "git is not installed: every migration file is linted and the GraphQL schema is not compared"}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Base{Ref: ref, Note: fmt.Sprintf("no base: %v", err)}
	}
	probe := existingParent(abs)
	out, err := git(ctx, probe, "rev-parse", "--show-toplevel")
	if err != nil {
		return Base{Ref: ref, Note: fmt.Sprintf("%s is not in a git work tree: every migration file is linted and the GraphQL schema is not compared", dir)}
	}
	top := strings.TrimSpace(string(out))
	if ref != "" {
		commit, err := git(ctx, top, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
		if err != nil {
			return Base{Ref: ref, Note: fmt.Sprintf("base %q is not a commit of this repository: every migration file is linted and the GraphQL schema is not compared", ref)}
		}
		return Base{Ref: ref, Commit: strings.TrimSpace(string(commit)), Note: fmt.Sprintf("compared with %s", ref), top: top}
	}
	for _, r := range DefaultBaseRefs {
		commit, err := git(ctx, top, "merge-base", "HEAD", r)
		if err != nil {
			continue
		}
		c := strings.TrimSpace(string(commit))
		return Base{Ref: r, Commit: c, Note: fmt.Sprintf("compared with the merge base of HEAD and %s", r), top: top}
	}
	return Base{Note: "no main branch to compare with: every migration file is linted and the GraphQL schema is not compared"}
}

func existingParent(p string) string {
	for {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// rel returns the path of p relative to the work tree, with slashes.
func (b Base) rel(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	top := b.top
	if t, err := filepath.EvalSymlinks(top); err == nil {
		top = t
	}
	if a, err := filepath.EvalSymlinks(existingParent(abs)); err == nil {
		rest, _ := filepath.Rel(existingParent(abs), abs)
		abs = filepath.Join(a, rest)
	}
	r, err := filepath.Rel(top, abs)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("review: %s is outside the git work tree %s", p, b.top)
	}
	return filepath.ToSlash(r), nil
}

// ErrNoBase is returned when reading files of a Base that is not available.
var ErrNoBase = errors.New("review: no base revision")

// ReadDir returns the files of folder dir (a path on disk, inside the work
// tree) at the base whose names end with suffix, by name. A folder that does
// not exist at the base has no files.
func (b Base) ReadDir(ctx context.Context, dir, suffix string) (map[string][]byte, error) {
	if !b.Available() {
		return nil, ErrNoBase
	}
	r, err := b.rel(dir)
	if err != nil {
		return nil, err
	}
	out, err := git(ctx, b.top, "ls-tree", "-z", "--name-only", b.Commit, "--", r+"/")
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	for _, p := range strings.Split(string(out), "\x00") {
		name := strings.TrimPrefix(p, r+"/")
		if p == "" || !strings.HasSuffix(name, suffix) || strings.Contains(name, "/") {
			continue
		}
		content, err := git(ctx, b.top, "show", b.Commit+":"+p)
		if err != nil {
			return nil, err
		}
		files[name] = content
	}
	return files, nil
}

// ReadFile returns the content of file (a path on disk, inside the work
// tree) at the base, and false when it does not exist there.
func (b Base) ReadFile(ctx context.Context, file string) ([]byte, bool, error) {
	if !b.Available() {
		return nil, false, ErrNoBase
	}
	r, err := b.rel(file)
	if err != nil {
		return nil, false, err
	}
	out, err := git(ctx, b.top, "ls-tree", "-z", "--name-only", b.Commit, "--", r)
	if err != nil {
		return nil, false, err
	}
	if len(bytes.TrimRight(out, "\x00")) == 0 {
		return nil, false, nil
	}
	content, err := git(ctx, b.top, "show", b.Commit+":"+r)
	if err != nil {
		return nil, false, err
	}
	return content, true, nil
}
