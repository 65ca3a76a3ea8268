package migration

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
)

type querier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// revisions stores atlas revisions in the cf_schema_revisions table.
type revisions struct {
	q       querier
	dialect string
	schema  string // PostgreSQL schema of the table; "" for SQLite
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

func (m *Migrator) ensureRevisionTable(ctx context.Context) error {
	ts := "timestamp"
	if m.dialect == dialect.Postgres {
		ts = "timestamptz"
	}
	_, err := m.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+RevisionTable+` (
  version varchar(64) NOT NULL PRIMARY KEY,
  description text NOT NULL,
  type integer NOT NULL,
  applied integer NOT NULL,
  total integer NOT NULL,
  executed_at `+ts+` NOT NULL,
  execution_time bigint NOT NULL,
  error text NOT NULL,
  error_stmt text NOT NULL,
  hash text NOT NULL,
  partial_hashes text NOT NULL,
  operator_version text NOT NULL
)`)
	if err != nil {
		return fmt.Errorf("migration: creating %s: %w", RevisionTable, err)
	}
	if m.dialect == dialect.Postgres && m.schema == "" {
		if err := m.db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&m.schema); err != nil {
			return fmt.Errorf("migration: reading current schema: %w", err)
		}
	}
	return nil
}

func (m *Migrator) revisions(q querier) *revisions {
	return &revisions{q: q, dialect: m.dialect, schema: m.schema}
}

func (r *revisions) ph(n int) string {
	if r.dialect == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func (r *revisions) Ident() *migrate.TableIdent {
	return &migrate.TableIdent{Name: RevisionTable, Schema: r.schema}
}

const revColumns = "version, description, type, applied, total, executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version"

func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	return r.read(ctx, "")
}

func (r *revisions) ReadRevision(ctx context.Context, v string) (*migrate.Revision, error) {
	revs, err := r.read(ctx, v)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

func (r *revisions) read(ctx context.Context, version string) ([]*migrate.Revision, error) {
	q := "SELECT " + revColumns + " FROM " + RevisionTable
	var args []any
	if version != "" {
		q += " WHERE version = " + r.ph(1)
		args = append(args, version)
	}
	rows, err := r.q.QueryContext(ctx, q+" ORDER BY version", args...)
	if err != nil {
		if isMissingTable(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("migration: reading %s: %w", RevisionTable, err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		var (
			rev     migrate.Revision
			typ     int
			took    int64
			partial string
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &typ, &rev.Applied, &rev.Total, &rev.ExecutedAt,
			&took, &rev.Error, &rev.ErrorStmt, &rev.Hash, &partial, &rev.OperatorVersion); err != nil {
			return nil, fmt.Errorf("migration: reading %s: %w", RevisionTable, err)
		}
		rev.Type = migrate.RevisionType(typ)
		rev.ExecutionTime = time.Duration(took)
		if partial != "" {
			if err := json.Unmarshal([]byte(partial), &rev.PartialHashes); err != nil {
				return nil, fmt.Errorf("migration: reading %s: %w", RevisionTable, err)
			}
		}
		revs = append(revs, &rev)
	}
	return revs, rows.Err()
}

func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	partial, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	if _, err := r.q.ExecContext(ctx, "DELETE FROM "+RevisionTable+" WHERE version = "+r.ph(1), rev.Version); err != nil {
		return fmt.Errorf("migration: writing %s: %w", RevisionTable, err)
	}
	phs := make([]string, 12)
	for i := range phs {
		phs[i] = r.ph(i + 1)
	}
	_, err = r.q.ExecContext(ctx, "INSERT INTO "+RevisionTable+" ("+revColumns+") VALUES ("+strings.Join(phs, ", ")+")",
		rev.Version, rev.Description, int(rev.Type), rev.Applied, rev.Total, rev.ExecutedAt.UTC(),
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, string(partial), rev.OperatorVersion)
	if err != nil {
		return fmt.Errorf("migration: writing %s: %w", RevisionTable, err)
	}
	return nil
}

func (r *revisions) DeleteRevision(ctx context.Context, v string) error {
	_, err := r.q.ExecContext(ctx, "DELETE FROM "+RevisionTable+" WHERE version = "+r.ph(1), v)
	return err
}

func isMissingTable(err error) bool {
	s := err.Error()
	return errors.Is(err, sql.ErrNoRows) || strings.Contains(s, "no such table") || strings.Contains(s, "does not exist")
}
