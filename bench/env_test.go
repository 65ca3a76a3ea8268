package bench_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/bench"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/storage"
)

// env is one loaded database of a dialect, shared by every test and
// benchmark of the process (loading the full shape takes seconds), with
// the product over a counting driver and the baseline's own handle.
type env struct {
	dialect string
	fx      bench.Fixture
	sqlDB   *sql.DB // the database Load filled
	// The product: an ent client whose statements drv counts, the
	// GraphQL handler over it, a session manager, and the actor's
	// contexts and credentials.
	client   *ent.Client
	drv      *testdb.CountingDriver
	handler  http.Handler
	sessions *session.Manager
	// auth authenticates as the server does: keys' last use is collected
	// by usage, which the benchmarks never flush (no write on the path).
	auth   *credential.Authenticator
	usage  *apikey.UsageRecorder
	key    string // the actor's personal API key (all scopes)
	access string // an access token of the actor's session
	actx   context.Context
	// The baseline: pgx on PostgreSQL, database/sql on SQLite, counting
	// its own statements; the public signing keys for access tokens.
	base *baseDB
	jwks []accesstoken.PublicKey
}

var (
	envMu    sync.Mutex
	envs     = map[string]*env{}
	cleanups []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

// shape is bench.Full, or bench.Small with -short.
func shape() bench.Shape {
	if testing.Short() {
		return bench.Small
	}
	return bench.Full
}

// eachDialect runs f as a subtest or sub-benchmark db=<dialect> for every
// dialect of testdb.Dialects, with the process's env of that dialect.
func eachDialect[T interface {
	testing.TB
	Run(string, func(T)) bool
}](tb T, f func(tb T, e *env)) {
	for _, d := range testdb.Dialects() {
		tb.Run("db="+testdb.Target{Dialect: d}.Name(), func(tb T) { f(tb, setup(tb, d)) })
	}
}

const testPassword = "correct horse battery staple 42"

// setup returns the env of dialect d, creating and loading it on first use.
func setup(tb testing.TB, d string) *env {
	tb.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if e, ok := envs[d]; ok {
		return e
	}
	e, err := newEnv(d)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("%s: %d organizations, %d users, %d memberships, %d role links loaded in %s",
		d, e.fx.Shape.Organizations, e.fx.Shape.Users, e.fx.Shape.Memberships(), e.fx.Shape.RoleLinks(), e.fx.Took.Round(time.Millisecond))
	envs[d] = e
	return e
}

func newEnv(d string) (*env, error) {
	ctx := context.Background()
	var url string
	switch d {
	case dialect.SQLite:
		dir, err := os.MkdirTemp("", "cf-identity-bench-")
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		url = "sqlite://" + filepath.Join(dir, "bench.db")
	case dialect.Postgres:
		db, u, drop, err := devdb.Postgres(ctx, os.Getenv(testdb.EnvPostgres), "cf_identity_bench")
		if err != nil {
			return nil, err
		}
		db.Close()
		cleanups = append(cleanups, func() {
			if err := drop(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: dropping the database: %v\n", err)
			}
		})
		url = u
	}
	if _, err := migrations.Apply(ctx, url); err != nil {
		return nil, fmt.Errorf("migrating: %w", err)
	}
	sqlDB, cfg, err := storage.OpenDB(ctx, url)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { sqlDB.Close() })
	fx, err := bench.Load(ctx, sqlDB, d, shape())
	if err != nil {
		return nil, err
	}
	e := &env{dialect: d, fx: fx, sqlDB: sqlDB}
	e.drv = &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
	e.client = ent.NewClient(ent.Driver(e.drv))
	e.usage = apikey.NewUsageRecorder(context.Background(), e.client, apikey.UsageOptions{FlushInterval: 24 * time.Hour})
	cleanups = append(cleanups, func() { _ = e.usage.Close(context.Background()) })
	e.handler = graph.NewHandler(e.client, graph.Options{
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		APIKeyUsage: e.usage,
	})
	if e.key, err = bench.IssueKey(ctx, e.client, fx, "bench"); err != nil {
		return nil, err
	}

	// A session of the actor, signed in with a password set through the
	// session manager (cheapest Argon2 parameters, a random master key).
	scfg := session.DefaultConfig()
	scfg.Argon2 = secret.MinArgon2
	scfg.MasterKey = make([]byte, 32)
	rand.Read(scfg.MasterKey)
	if e.sessions, err = session.New(ctx, e.client, scfg); err != nil {
		return nil, err
	}
	sys := actor.NewContext(ctx, actor.System("bench"))
	if err := e.sessions.SetPassword(sys, e.client, fx.Actor, testPassword); err != nil {
		return nil, fmt.Errorf("setting the password: %w", err)
	}
	tok, err := e.sessions.Login(ctx, session.LoginInput{Email: bench.Email(0), Password: testPassword})
	if err != nil {
		return nil, fmt.Errorf("signing in: %w", err)
	}
	e.access = tok.AccessToken
	e.auth = &credential.Authenticator{Client: e.client, Sessions: e.sessions, Usage: e.usage}
	js, err := e.sessions.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	if e.jwks, err = accesstoken.ParseJWKS(js); err != nil {
		return nil, err
	}
	if e.actx, err = authz.NewContext(ctx, e.client, actor.User(fx.Actor, actor.PlatformNone)); err != nil {
		return nil, err
	}

	e.base = &baseDB{dialect: d}
	if d == dialect.Postgres {
		if e.base.pool, err = pgxpool.New(ctx, url); err != nil {
			return nil, err
		}
		cleanups = append(cleanups, e.base.pool.Close)
	} else {
		e.base.db = sqlDB
	}
	return e, nil
}

// baseDB is the baseline's database: a pgx pool on PostgreSQL, the
// database/sql handle on SQLite. Queries are written with ? placeholders;
// on PostgreSQL they become $1, $2, ... It counts its statements (BEGIN
// and COMMIT aside, as testdb.CountingDriver does).
type baseDB struct {
	dialect string
	pool    *pgxpool.Pool
	db      *sql.DB
	n       atomic.Int64
	// rebound caches the PostgreSQL form of each query.
	rebound sync.Map
}

type rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}

type row interface{ Scan(...any) error }

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func (b *baseDB) q(query string) string {
	if b.dialect != dialect.Postgres {
		return query
	}
	if s, ok := b.rebound.Load(query); ok {
		return s.(string)
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteByte(query[i])
	}
	b.rebound.Store(query, sb.String())
	return sb.String()
}

func (b *baseDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	b.n.Add(1)
	if b.pool != nil {
		return b.pool.Query(ctx, b.q(query), args...)
	}
	r, err := b.db.QueryContext(ctx, query, args...) //nolint:rowserrcheck // returned wrapped; every caller checks rows.Err()
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (b *baseDB) queryRow(ctx context.Context, query string, args ...any) row {
	b.n.Add(1)
	if b.pool != nil {
		return b.pool.QueryRow(ctx, b.q(query), args...)
	}
	return b.db.QueryRowContext(ctx, query, args...)
}

// inTx runs f in a transaction, committed when f returns nil.
func (b *baseDB) inTx(ctx context.Context, f func(exec func(query string, args ...any) error) error) error {
	if b.pool != nil {
		tx, err := b.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
		if err := f(func(query string, args ...any) error {
			b.n.Add(1)
			_, err := tx.Exec(ctx, b.q(query), args...)
			return err
		}); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := f(func(query string, args ...any) error {
		b.n.Add(1)
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	}); err != nil {
		return err
	}
	return tx.Commit()
}

// in returns "?, ?, ..." for n arguments.
func in(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// pgx.Rows is a rows as it is.
var _ rows = pgx.Rows(nil)
