package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// healthz returns the body of GET /healthz at addr.
func healthz(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/healthz: %d, Content-Type %q; want 200 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// wantHealthz is the /healthz body for build v.
func wantHealthz(v buildVersion) string {
	want := "ok\nversion " + v.Version + "\n"
	if v.Revision != "" {
		want += "revision " + v.Revision
		if v.Modified {
			want += " (modified)"
		}
		want += "\n"
	}
	return want
}

// TestHealthzNamesBuild checks that serve's /healthz names the build of
// the running binary (here the test binary: a version, no VCS stamp).
func TestHealthzNamesBuild(t *testing.T) {
	clearEnv(t)
	t.Setenv("IDENTITY_DATABASE_URL", sqliteURL(t))
	s := startServe(t)
	if got, want := healthz(t, s.addr), wantHealthz(readVersion()); got != want {
		t.Errorf("/healthz = %q, want %q", got, want)
	}
	s.stop(t)
}

// TestBuiltBinaryRevision builds the binary with go build in a git
// repository (a copy of this module's files, committed), where go build
// stamps the VCS revision, and checks that /healthz of its serve names the
// same version and revision as its version command; then again with an
// uncommitted change, which both report as modified. (A linked git
// worktree, whose .git is a file, gets no stamp from go build.)
func TestBuiltBinaryRevision(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	clearEnv(t)
	repo := copyModule(t)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "copy")
	head := git("rev-parse", "HEAD")
	dir := t.TempDir()
	bin := filepath.Join(dir, "identity")
	t.Run("clean", func(t *testing.T) {
		v := checkBuild(t, repo, bin, filepath.Join(dir, "clean.db"))
		if v.Revision != head || v.Modified {
			t.Errorf("revision %s modified %t; want %s, false", v.Revision, v.Modified, head)
		}
	})
	if err := os.WriteFile(filepath.Join(repo, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("modified", func(t *testing.T) {
		v := checkBuild(t, repo, bin, filepath.Join(dir, "modified.db"))
		if v.Revision != head || !v.Modified {
			t.Errorf("revision %s modified %t; want %s, true", v.Revision, v.Modified, head)
		}
	})
}

// copyModule copies the files of this module that git knows (tracked, or
// untracked and not ignored) into a new directory and returns it.
func copyModule(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not in a git work tree?)", err)
	}
	repo := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join("../..", name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted, not yet staged
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

// checkBuild builds the binary of repo into bin, reads its version, runs
// its serve on an SQLite database at db and compares /healthz with the
// version; it returns the version.
func checkBuild(t *testing.T, repo, bin, db string) buildVersion {
	t.Helper()
	// -trimpath keeps the build cache usable across temporary directories.
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=true", "-o", bin, "./cmd/identity")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("identity version: %v", err)
	}
	m := regexp.MustCompile(`(?m)^identity (\S+)\nrevision: ([0-9a-f]{40})\n(?:revision time: .*\n)?modified: (true|false)\n`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("identity version of a go build in a git repository names no revision:\n%s", out)
	}
	want := buildVersion{}
	want.Version, want.Revision, want.Modified = m[1], m[2], m[3] == "true"

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var stderr syncBuffer
	serve := exec.CommandContext(ctx, bin, "serve", "--addr", addr, "--database-url", "sqlite://"+db)
	serve.Stderr = &stderr
	serve.Cancel = func() error { return serve.Process.Signal(syscall.SIGTERM) }
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz did not answer within 15s\nstderr:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before answering: %v\nstderr:\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got, want := healthz(t, addr), wantHealthz(want); got != want {
		t.Errorf("/healthz = %q, want %q (from identity version:\n%s)", got, want, out)
	}
	if !strings.Contains(stderr.String(), "revision="+want.Revision) {
		t.Errorf("serve does not log revision=%s at start:\n%s", want.Revision, stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		// Wait reports the cancelled context once Cancel sent SIGTERM; the
		// exit status is what tells a clean stop.
		if st := serve.ProcessState; st == nil || !st.Success() {
			t.Errorf("serve after SIGTERM: %v (%v)\nstderr:\n%s", err, st, stderr.String())
		}
	case <-time.After(20 * time.Second):
		_ = serve.Process.Kill()
		t.Fatal("serve did not stop within 20s of SIGTERM")
	}
	return want
}
