// Package storetest gives tests a fresh, isolated database on each engine.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/livehouse/livehouse/internal/store"
)

// PostgresURL is where store tests find PostgreSQL; LIVEHOUSE_TEST_POSTGRES overrides it.
func PostgresURL() string {
	if u := os.Getenv("LIVEHOUSE_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// EachDialect runs fn once on a new SQLite file and once on a new PostgreSQL
// schema, both migrated with sets and removed when the test ends.
func EachDialect(t *testing.T, fn func(t *testing.T, db *store.DB), sets ...store.MigrationSet) {
	t.Helper()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d, sets...))
		})
	}
}

// Open returns a fresh migrated database of dialect d. A PostgreSQL database
// lives in its own schema, dropped at cleanup, so parallel runs never meet.
func Open(t testing.TB, d store.Dialect, sets ...store.MigrationSet) *store.DB {
	t.Helper()
	ctx := context.Background()
	var dbURL string
	switch d {
	case store.SQLite:
		dbURL = "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case store.Postgres:
		dbURL = NewPostgresSchema(t)
	}
	db, err := store.Open(ctx, dbURL, "")
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, sets...); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// NewPostgresSchema creates an empty schema and returns a URL whose
// connections use it; the schema is dropped when the test ends.
func NewPostgresSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, PostgresURL(), "")
	if err != nil {
		t.Fatalf("PostgreSQL is needed for store tests (set LIVEHOUSE_TEST_POSTGRES, or run make test, which starts it): %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "lhtest_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURL(), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
