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
