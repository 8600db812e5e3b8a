package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MigrationSet is one domain's embedded migrations. Files are named
// NNNN_description.sql (shared by both engines) or
// NNNN_description.sqlite.sql / NNNN_description.postgres.sql when the
// engines need different text for the same version. In shared files the
// word AUTO_ID stands for the engine's auto-increment primary key, the one
// column type the two spell differently.
type MigrationSet struct {
	Domain string
	FS     fs.FS
	// Moved names versions of this set whose change another domain made
	// before it moved here (a column of a table that changed owner): a
	// database that recorded that migration records this version as applied
	// without running it again. A new table needs no entry: it is written
	// with CREATE TABLE IF NOT EXISTS and adopts the one already there.
	Moved map[int]Applied
}

// Applied names a migration as schema_migrations recorded it. The name
// matters: a version left behind where a migration moved out is kept as a
// placeholder under another name, so fresh installs never match it.
type Applied struct {
	Domain  string
	Version int
	Name    string
}

type migration struct {
	version int
	name    string
	sql     string
}

var autoID = regexp.MustCompile(`\bAUTO_ID\b`)

// autoIDType is the dialect's auto-increment primary key column type.
func (d Dialect) autoIDType() string {
	if d == Postgres {
		return "BIGSERIAL PRIMARY KEY"
	}
	return "INTEGER PRIMARY KEY AUTOINCREMENT"
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$`)

func (s MigrationSet) load(d Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(s.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", s.Domain, err)
	}
	byVersion := map[int]migration{}
	specific := map[int]bool{} // versions that have a file for this dialect
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%s migration %q: name must look like 0001_what.sql", s.Domain, e.Name())
		}
		if m[3] != "" && Dialect(m[3]) != d {
			continue
		}
		v, _ := strconv.Atoi(m[1])
		isSpecific := m[3] != ""
		if _, dup := byVersion[v]; dup {
			if isSpecific == specific[v] {
				return nil, fmt.Errorf("%s migrations: two files for version %04d", s.Domain, v)
			}
			if !isSpecific {
				continue // the dialect's own file wins over the shared one
			}
		}
		specific[v] = isSpecific
		body, err := fs.ReadFile(s.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s migration %q: %w", s.Domain, e.Name(), err)
		}
		byVersion[v] = migration{version: v, name: m[2], sql: autoID.ReplaceAllString(string(body), d.autoIDType())}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("%s migrations: version %04d is missing", s.Domain, i+1)
		}
	}
	return out, nil
}

// Migrate applies every migration not yet recorded in schema_migrations, each
// in its own transaction, in domain order and then version order. On
// PostgreSQL an advisory lock keeps two nodes from migrating at once.
func (db *DB) Migrate(ctx context.Context, sets ...MigrationSet) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		domain TEXT NOT NULL,
		version INTEGER NOT NULL,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL,
		PRIMARY KEY (domain, version))`)
	if err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, set := range sets {
		migrations, err := set.load(db.Dialect)
		if err != nil {
			return err
		}
		for _, m := range migrations {
			if err := db.applyOne(ctx, set.Domain, m, set.Moved[m.version]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (db *DB) applyOne(ctx context.Context, domain string, m migration, movedFrom Applied) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		if db.Dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7295001)`); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
		}
		var n int
		err := tx.QueryRowContext(ctx,
			`SELECT COUNT(*) FROM schema_migrations WHERE domain = $1 AND version = $2`, domain, m.version).Scan(&n)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			return nil
		}
		stmts := splitStatements(m.sql)
		if movedFrom.Domain != "" { // made before under another domain: record it only
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE domain = $1 AND version = $2 AND name = $3`,
				movedFrom.Domain, movedFrom.Version, movedFrom.Name).Scan(&n)
			if err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if n > 0 {
				stmts = nil
			}
		}
		for _, stmt := range stmts {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s %04d_%s: %w", domain, m.version, m.name, err)
			}
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (domain, version, name, applied_at) VALUES ($1, $2, $3, $4)`,
			domain, m.version, m.name, Now())
		if err != nil {
			return fmt.Errorf("record migration %s %04d: %w", domain, m.version, err)
		}
		return nil
	})
}

// splitStatements splits a migration on semicolons at line ends. Migrations
// are plain DDL; they hold no semicolons inside strings or bodies.
func splitStatements(text string) []string {
	var out []string
	for _, part := range strings.Split(text, ";\n") {
		lines := []string{}
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";"); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}
