package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/password"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/storage"
)

// sessionFlags configure sign-in (package session).
type sessionFlags struct {
	masterKey, masterKeyFile     *string
	keySource                    string // where config found the master keys
	issuer, audience             *string
	accessTTL, idleTTL, absolute *time.Duration
	grace, lockBase, lockMax     *time.Duration
	maxFailed, minLength         *int
	argonMemory, argonTime       *int
	argonThreads, hashSlots      *int
	impTTL, impMax               *time.Duration
}

func (s *sessionFlags) register(f *flags) {
	d := session.DefaultConfig()
	s.masterKey = f.String("master-key", "IDENTITY_MASTER_KEY", "", "base64 of at least 32 random bytes; seals the token-signing keys and OAuth provider tokens (prefer --master-key-file); several comma-separated keys: the first seals, the others are previous keys that only open (see keys rotate)")
	s.masterKeyFile = f.String("master-key-file", "IDENTITY_MASTER_KEY_FILE", "", "file holding the master key in base64, or several, one per line: the first seals, the others are previous keys that only open (see keys rotate); blank lines and # comments are ignored; default for an SQLite database: <database file>.master-key, created (mode 0600) when missing")
	s.issuer = f.String("token-issuer", "IDENTITY_TOKEN_ISSUER", d.Issuer, "iss claim of access tokens")
	s.audience = f.String("token-audience", "IDENTITY_TOKEN_AUDIENCE", d.Audience, "aud claim of access tokens")
	s.accessTTL = f.Duration("access-token-ttl", "IDENTITY_ACCESS_TOKEN_TTL", d.AccessTTL, "lifetime of an access token (10s to 24h)")
	s.idleTTL = f.Duration("session-idle-ttl", "IDENTITY_SESSION_IDLE_TTL", d.IdleTTL, "a session not refreshed for this long ends")
	s.absolute = f.Duration("session-ttl", "IDENTITY_SESSION_TTL", d.AbsoluteTTL, "a session ends this long after sign-in, however often refreshed")
	s.grace = f.Duration("refresh-grace", "IDENTITY_REFRESH_GRACE", d.Grace, "how long a used refresh token may be retried by the same client without revoking the session; 0 disables")
	s.maxFailed = f.Int("max-failed-logins", "IDENTITY_MAX_FAILED_LOGINS", d.MaxFailedLogins, "wrong passwords in a row that lock an account")
	s.lockBase = f.Duration("lock-time", "IDENTITY_LOCK_TIME", d.LockBase, "first lock time; doubles with each further wrong password")
	s.lockMax = f.Duration("max-lock-time", "IDENTITY_MAX_LOCK_TIME", d.LockMax, "longest lock time")
	s.minLength = f.Int("password-min-length", "IDENTITY_PASSWORD_MIN_LENGTH", d.Password.MinLength, "shortest password accepted (at least 8)")
	s.argonMemory = f.Int("argon2-memory-kib", "IDENTITY_ARGON2_MEMORY_KIB", int(d.Argon2.Memory), "argon2id memory of new password hashes, KiB (at least 19456)")
	s.argonTime = f.Int("argon2-time", "IDENTITY_ARGON2_TIME", int(d.Argon2.Time), "argon2id passes of new password hashes (at least 2)")
	s.hashSlots = f.Int("argon2-concurrency", "IDENTITY_ARGON2_CONCURRENCY", d.HashConcurrency, "password checks and hashes running at once (each holds --argon2-memory-kib); further sign-ins wait")
	s.impTTL = f.Duration("impersonation-ttl", "IDENTITY_IMPERSONATION_TTL", d.ImpersonationTTL, "how long an impersonation lasts when impersonateUser asks for no duration")
	s.impMax = f.Duration("max-impersonation-ttl", "IDENTITY_MAX_IMPERSONATION_TTL", d.MaxImpersonationTTL, "the longest impersonation impersonateUser may ask for (at most 12h)")
	s.argonThreads = f.Int("argon2-threads", "IDENTITY_ARGON2_THREADS", int(d.Argon2.Threads), "argon2id parallelism of new password hashes (at least 1)")
}

// config returns the session configuration, reading (or, beside an SQLite
// database, creating) the master key.
func (s *sessionFlags) config(databaseURL string, notice func(file string)) (session.Config, error) {
	c := session.DefaultConfig()
	c.Issuer, c.Audience = *s.issuer, *s.audience
	c.AccessTTL, c.IdleTTL, c.AbsoluteTTL, c.Grace = *s.accessTTL, *s.idleTTL, *s.absolute, *s.grace
	c.MaxFailedLogins, c.LockBase, c.LockMax = *s.maxFailed, *s.lockBase, *s.lockMax
	c.Password = password.Policy{MinLength: *s.minLength, MaxLength: password.Default().MaxLength}
	if *s.argonMemory <= 0 || *s.argonTime <= 0 || *s.argonThreads <= 0 || *s.argonThreads > 255 {
		return c, fmt.Errorf("%w: argon2 parameters must be positive (threads at most 255)", errUsage)
	}
	if *s.argonMemory > math.MaxUint32 || *s.argonTime > math.MaxUint32 {
		// The hash stores them as 32-bit numbers: a larger flag would wrap.
		return c, fmt.Errorf("%w: argon2 memory and time must fit in 32 bits (at most %d)", errUsage, uint32(math.MaxUint32))
	}
	c.HashConcurrency = *s.hashSlots
	c.ImpersonationTTL, c.MaxImpersonationTTL = *s.impTTL, *s.impMax
	c.Argon2 = secret.Argon2Params{Memory: uint32(*s.argonMemory), Time: uint32(*s.argonTime), Threads: uint8(*s.argonThreads)}
	keys, source, err := masterKeys(*s.masterKey, *s.masterKeyFile, databaseURL, notice)
	if err != nil {
		return c, err
	}
	c.MasterKey, c.PreviousMasterKeys = keys[0], keys[1:]
	s.keySource = source
	return c, nil
}

// errMasterKey marks a master key that is missing or unusable.
var errMasterKey = errors.New("master key")

func decodeKey(s, from string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < 32 {
				return nil, fmt.Errorf("%w: %s holds %d bytes; want at least 32 (openssl rand -base64 32)", errMasterKey, from, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: %s is not base64; want at least 32 random bytes in base64 (openssl rand -base64 32)", errMasterKey, from)
}

// decodeKeys decodes the keys of entries (named by where), the current
// key first. The same key twice is an error; errors name the entry,
// never a key.
func decodeKeys(entries []string, where func(i int) string, source string) ([][]byte, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: %s holds no key; want at least 32 random bytes in base64 (openssl rand -base64 32)", errMasterKey, source)
	}
	keys := make([][]byte, 0, len(entries))
	for i, e := range entries {
		k, err := decodeKey(e, where(i))
		if err != nil {
			return nil, err
		}
		for j, other := range keys {
			if string(k) == string(other) {
				return nil, fmt.Errorf("%w: %s repeats %s", errMasterKey, where(i), where(j))
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// masterKeys returns the master keys, the current key first, and where
// they come from. value (IDENTITY_MASTER_KEY) holds one key in base64 or
// several, separated by commas or newlines; a key file holds one per line.
func masterKeys(value, file, databaseURL string, notice func(file string)) ([][]byte, string, error) {
	switch {
	case value != "" && file != "":
		return nil, "", fmt.Errorf("%w: --master-key and --master-key-file contradict each other; set one", errUsage)
	case value != "":
		var entries []string
		for _, e := range strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == '\n' }) {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
		where := func(i int) string {
			if len(entries) == 1 {
				return "IDENTITY_MASTER_KEY"
			}
			return fmt.Sprintf("IDENTITY_MASTER_KEY entry %d", i+1)
		}
		keys, err := decodeKeys(entries, where, "IDENTITY_MASTER_KEY")
		return keys, "IDENTITY_MASTER_KEY", err
	case file != "":
		keys, err := readKeyFile(file)
		return keys, "the key file " + file, err
	}
	cfg, err := storage.ParseURL(databaseURL)
	if err != nil {
		return nil, "", err
	}
	if cfg.Path == "" {
		return nil, "", fmt.Errorf("%w: set IDENTITY_MASTER_KEY_FILE (or IDENTITY_MASTER_KEY) for %s; only an SQLite database file gets a key file created beside it", errMasterKey, cfg.Redacted)
	}
	file = cfg.Path + ".master-key"
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, "", fmt.Errorf("%w: creating %s: %w", errMasterKey, file, err)
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(b[:]) + "\n"); err != nil {
			_ = f.Close() // the write error is the one to report
			return nil, "", fmt.Errorf("%w: writing %s: %w", errMasterKey, file, err)
		}
		if err := f.Close(); err != nil {
			return nil, "", err
		}
		notice(file)
	}
	keys, err := readKeyFile(file)
	return keys, "the key file " + file, err
}

// readKeyFile reads the keys of a key file: one base64 key per line, the
// current key first; blank lines and lines starting with # are ignored.
func readKeyFile(file string) ([][]byte, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMasterKey, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by others (mode %s); chmod 600 it", errMasterKey, file, st.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMasterKey, err)
	}
	var entries []string
	var lines []int
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries = append(entries, line)
		lines = append(lines, i+1)
	}
	return decodeKeys(entries, func(i int) string { return fmt.Sprintf("%s line %d", file, lines[i]) }, file)
}

// openSessions opens the database and the session manager for a command.
// Like bootstrap, it creates a missing database and applies pending
// migrations first.
func openSessions(ctx context.Context, c commonFlags, s *sessionFlags, allowForeign bool, stderr io.Writer) (*ent.Client, *session.Manager, error) {
	cfg, err := s.config(c.databaseURL, func(file string) {
		fmt.Fprintf(stderr, "created master key file %s (mode 0600): keep it with the database, back it up, never commit it\n", file)
	})
	if err != nil {
		return nil, nil, err
	}
	applied, err := prepareDatabase(ctx, c.databaseURL, allowForeign, func() {
		fmt.Fprintf(stderr, "created database %s\n", storage.Redact(c.databaseURL))
	})
	if err != nil {
		return nil, nil, err
	}
	if len(applied) > 0 {
		fmt.Fprintf(stderr, "applied %d migration(s)\n", len(applied))
	}
	client, _, _, err := storage.Open(ctx, c.databaseURL)
	if err != nil {
		return nil, nil, err
	}
	m, err := session.New(ctx, client, cfg)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, m, nil
}

// readPassword reads one line from r (the password, without its newline).
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4097)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: --password-stdin read no password", errUsage)
	}
	return line, nil
}
