// Package store opens Livehouse's SQL database (SQLite by default, PostgreSQL
// when scaled out) and applies each domain's embedded migrations.
//
// Queries are written once, with $1-style placeholders, in SQL that both
// engines accept; where a migration cannot be shared it ships one file per
// dialect (see Migrate).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a database handle that knows which engine it talks to.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Location is a printable description of where the data lives (never a password).
	Location string

	// writer queues this process's SQLite write transactions (SQLite runs
	// one writer at a time): waiting here is first come, first served and
	// can be cancelled, where SQLite's busy handler polls, and under load
	// an unlucky transaction could lose every poll until busy_timeout.
	// nil on PostgreSQL, which runs writers concurrently.
	writer chan struct{}

	trace *tracer // SQLite: sees every statement (tests count queries)
}

// Trace calls fn with every SQL statement this process sends to SQLite
// (nil stops it). Tests use it to count what a code path costs; it is not
// available on PostgreSQL.
func (db *DB) Trace(fn func(query string)) {
	if db.trace == nil {
		return
	}
	if fn == nil {
		db.trace.fn.Store(nil)
		return
	}
	db.trace.fn.Store(&fn)
}

// Open connects to the database named by dbURL. An empty dbURL means the
// embedded SQLite file livehouse.db under dataDir, in WAL mode.
// Accepted forms: "", "sqlite:PATH", "postgres://…", "postgresql://…".
func Open(ctx context.Context, dbURL, dataDir string) (*DB, error) {
	switch {
	case dbURL == "" || strings.HasPrefix(dbURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dbURL, "sqlite:"), "//")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return nil, fmt.Errorf("create data directory %q: %w", dataDir, err)
			}
			path = filepath.Join(dataDir, "livehouse.db")
		}
		return openSQLite(ctx, path)
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return openPostgres(ctx, dbURL)
	default:
		return nil, fmt.Errorf("unsupported database URL %q: use sqlite:PATH or postgres://USER@HOST/DB", redact(dbURL))
	}
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	// _txlock=immediate makes write transactions take the lock up front, so two
	// writers queue on busy_timeout instead of failing with SQLITE_BUSY mid-way.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	tr := &tracer{}
	db := sql.OpenDB(&paramConnector{dsn: dsn, drv: &sqlite.Driver{}, trace: tr})
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	return &DB{DB: db, Dialect: SQLite, Location: "sqlite:" + path, writer: make(chan struct{}, 1), trace: tr}, nil
}

func openPostgres(ctx context.Context, dbURL string) (*DB, error) {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", redact(dbURL), err)
	}
	db.SetMaxOpenConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", redact(dbURL), err)
	}
	return &DB{DB: db, Dialect: Postgres, Location: redact(dbURL)}, nil
}

func ping(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// redact hides a password in a database URL so it can be logged.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// InTx runs fn in a transaction, committing when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.writer != nil {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return fmt.Errorf("begin transaction: %w", ctx.Err())
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique or primary-key constraint
// failure on either engine.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Now is the store's clock format: Unix milliseconds, portable across engines.
func Now() int64 { return time.Now().UnixMilli() }

// Values renders rows for a multi-row INSERT — "($1, $2), ($3, $4)" — and
// flattens their arguments in the same order.
func Values(rows [][]any) (string, []any) {
	var q strings.Builder
	n := 0
	if len(rows) > 0 {
		n = len(rows) * len(rows[0])
	}
	args := make([]any, 0, n)
	for i, row := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for j := range row {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(len(args) + j + 1))
		}
		q.WriteByte(')')
		args = append(args, row...)
	}
	return q.String(), args
}
