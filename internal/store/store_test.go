package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

var testMigrations = store.MigrationSet{Domain: "test", FS: os.DirFS("testdata/migrations")}

func TestMigrateAndQueryOnBothEngines(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Running again must be a no-op, as on every restart.
		if err := db.Migrate(ctx, testMigrations); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		var applied int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE domain = $1`, "test").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != 3 {
			t.Fatalf("applied migrations = %d, want 3", applied)
		}
		var engine string
		if _, err := db.ExecContext(ctx, `INSERT INTO only_here DEFAULT VALUES`); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT engine FROM only_here`).Scan(&engine); err != nil || engine != string(db.Dialect) {
			t.Fatalf("dialect file: %q %v", engine, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO notes (slug, body) VALUES ($1, $2)`, "a", "hello"); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, `INSERT INTO notes (slug, body) VALUES ($1, $2)`, "a", "again")
		if !store.IsUniqueViolation(err) {
			t.Fatalf("duplicate insert error = %v, want a unique violation", err)
		}
		var id1, id2 int64
		if err := db.QueryRowContext(ctx, `INSERT INTO counters (n) VALUES ($1) RETURNING id`, 5).Scan(&id1); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `INSERT INTO counters (n) VALUES ($1) RETURNING id`, 6).Scan(&id2); err != nil {
			t.Fatal(err)
		}
		if id2 <= id1 {
			t.Fatalf("ids not increasing: %d then %d", id1, id2)
		}
	}, testMigrations)
}

func TestMigrationNamesAreChecked(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	cases := map[string]fstest.MapFS{
		"bad name":    {"1_x.sql": {Data: []byte("SELECT 1")}},
		"gap":         {"0001_a.sql": {Data: []byte("SELECT 1")}, "0003_c.sql": {Data: []byte("SELECT 1")}},
		"two for one": {"0001_a.sql": {Data: []byte("SELECT 1")}, "0001_b.sql": {Data: []byte("SELECT 1")}},
		"broken sql":  {"0001_a.sql": {Data: []byte("CREATE TABLEE nope (x INT)")}},
	}
	for name, fsys := range cases {
		if err := db.Migrate(context.Background(), store.MigrationSet{Domain: name, FS: fsys}); err == nil {
			t.Errorf("%s: Migrate succeeded, want an error", name)
		}
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	_, err := store.Open(context.Background(), "mysql://root@localhost/x", t.TempDir())
	if err == nil {
		t.Fatal("Open accepted a mysql URL")
	}
}

func TestValues(t *testing.T) {
	q, args := store.Values([][]any{{1, "a"}, {2, "b"}, {3, "c"}})
	if q != "($1, $2), ($3, $4), ($5, $6)" || fmt.Sprint(args) != "[1 a 2 b 3 c]" {
		t.Fatalf("Values: %q %v", q, args)
	}
	if q, args := store.Values(nil); q != "" || len(args) != 0 {
		t.Fatalf("no rows: %q %v", q, args)
	}
}

// TestSQLiteWritersQueueFairly: SQLite write transactions of one process
// wait their turn in InTx (no SQLITE_BUSY however many there are), and a
// transaction whose context ends while it waits gives up with that error.
func TestSQLiteWritersQueueFairly(t *testing.T) {
	db, err := store.Open(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE n (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const writers = 100
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		go func() {
			errs <- db.InTx(context.Background(), func(tx *sql.Tx) error {
				_, err := tx.Exec(`INSERT INTO n (v) VALUES (1)`)
				return err
			})
		}()
	}
	for i := 0; i < writers; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("writer: %v", err)
		}
	}

	hold, release := make(chan struct{}), make(chan struct{})
	go func() {
		_ = db.InTx(context.Background(), func(tx *sql.Tx) error {
			close(hold)
			<-release
			return nil
		})
	}()
	<-hold
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = db.InTx(ctx, func(tx *sql.Tx) error { return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a writer waiting past its deadline: %v", err)
	}
}

// TestMovedMigrationRunsOnce: a column added by one domain's migration that
// moved to another domain is not added again where the first one ran, and
// is added where it never did (a fresh install, or one from before it).
func TestMovedMigrationRunsOnce(t *testing.T) {
	old := fstest.MapFS{
		"0001_things.sql": {Data: []byte("CREATE TABLE things (id INTEGER PRIMARY KEY)")},
		"0002_colour.sql": {Data: []byte("ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT ''")},
	}
	// The first domain keeps version 2 as a placeholder under another name.
	kept := fstest.MapFS{
		"0001_things.sql":       {Data: []byte("-- things moved to the new domain")},
		"0002_colour_moved.sql": {Data: []byte("-- colour moved to the new domain")},
	}
	moved := store.MigrationSet{Domain: "new", Moved: map[int]store.Applied{2: {Domain: "old", Version: 2, Name: "colour"}}, FS: fstest.MapFS{
		"0001_things.sql": {Data: []byte("CREATE TABLE IF NOT EXISTS things (id INTEGER PRIMARY KEY)")},
		"0002_colour.sql": {Data: []byte("ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT ''")},
	}}
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for name, before := range map[string]fstest.MapFS{
			"both old migrations": old,
			"the first only":      {"0001_things.sql": old["0001_things.sql"]},
			"nothing (fresh)":     nil,
		} {
			if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS things`); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, `DELETE FROM schema_migrations`); err != nil {
				t.Fatal(err)
			}
			if before != nil {
				if err := db.Migrate(ctx, store.MigrationSet{Domain: "old", FS: before}); err != nil {
					t.Fatalf("%s: old migrations: %v", name, err)
				}
			}
			if err := db.Migrate(ctx, store.MigrationSet{Domain: "old", FS: kept}, moved); err != nil {
				t.Fatalf("%s: new migrations: %v", name, err)
			}
			if _, err := db.ExecContext(ctx, `INSERT INTO things (id, colour) VALUES (1, 'red')`); err != nil {
				t.Fatalf("%s: the column is missing: %v", name, err)
			}
		}
	})
}
