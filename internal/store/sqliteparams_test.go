package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewriteParams(t *testing.T) {
	for _, c := range []struct {
		in, out string
		order   []int
	}{
		{`SELECT 1`, `SELECT 1`, nil},
		{`SELECT $1, $2`, `SELECT ?, ?`, []int{0, 1}},
		{`WHERE ($1 = 0 OR id = $1) AND s = $2`, `WHERE (? = 0 OR id = ?) AND s = ?`, []int{0, 0, 1}},
		{`SELECT '$1', "$2", $3 -- $4
			/* $5 */ , $10`, `SELECT '$1', "$2", ? -- $4
			/* $5 */ , ?`, []int{2, 9}},
		{`LIKE $1 ESCAPE '\'`, `LIKE ? ESCAPE '\'`, []int{0}},
		{`'it''s $1' || $2`, `'it''s $1' || ?`, []int{1}},
		{`$0 $a $`, `$0 $a $`, nil},
		{`'unterminated $1`, `'unterminated $1`, nil},
	} {
		out, order, ok := rewriteParams(c.in)
		if out != c.out || fmt.Sprint(order) != fmt.Sprint(c.order) || ok != (len(c.order) > 0) {
			t.Errorf("rewriteParams(%q) = %q %v %v, want %q %v", c.in, out, order, ok, c.out, c.order)
		}
	}
}

// FuzzRewriteParams: for text without '?', putting each $N back where its
// ? stands gives the input again (nothing else is changed or lost).
func FuzzRewriteParams(f *testing.F) {
	for _, s := range []string{`SELECT $1, '$2' -- $3`, `/* $1 */ $2 "$3" $12345678`, `$`, `'`, `$1$2$3`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.Contains(in, "?") {
			return
		}
		out, order, _ := rewriteParams(in)
		var b strings.Builder
		k := 0
		for i := 0; i < len(out); i++ {
			if r := out[i]; r == '?' {
				if k >= len(order) {
					t.Fatalf("more ? than placeholders in %q", out)
				}
				fmt.Fprintf(&b, "$%d", order[k]+1)
				k++
				continue
			}
			b.WriteByte(out[i])
		}
		if k != len(order) || b.String() != in {
			t.Fatalf("round trip of %q gave %q", in, b.String())
		}
	})
}

// TestSQLiteRepeatedAndReorderedParams runs statements through the real
// driver with repeated and out-of-order placeholders.
func TestSQLiteRepeatedAndReorderedParams(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var a, b, c int64
	var s string
	if err := db.QueryRowContext(ctx, `SELECT $2, $1, $2 + $1, '$1'`, 10, 20).Scan(&a, &b, &c, &s); err != nil {
		t.Fatal(err)
	}
	if a != 20 || b != 10 || c != 30 || s != "$1" {
		t.Fatalf("got %d %d %d %q", a, b, c, s)
	}
	if _, err := db.ExecContext(ctx, `SELECT $3`, 1); err == nil {
		t.Fatal("a placeholder without its argument was accepted")
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT $1 || $1`, "ab").Scan(&s); err != nil || s != "abab" {
		t.Fatalf("in a transaction: %q %v", s, err)
	}
	st, err := db.PrepareContext(ctx, `SELECT $2 - $1`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.QueryRowContext(ctx, 1, 5).Scan(&a); err != nil || a != 4 {
		t.Fatalf("prepared: %d %v", a, err)
	}
}

// TestSQLiteStatementCache: statements a connection keeps prepared give
// the same answers as fresh ones, when the same query runs again while
// its rows are open, after the cache overflows with rows open, after a
// schema change, and after a failed query.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // every statement on one connection and its cache
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (id, v) VALUES ($1, $2)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	const q = `SELECT id, v FROM t WHERE id >= $1 ORDER BY id`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for rows.Next() {
		var id int
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		// The same query while its rows are open, then enough others to
		// overflow the cache.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		var inner string
		if err := tx.QueryRowContext(ctx, q, id).Scan(&id, &inner); err != nil || inner != v {
			t.Fatalf("nested run of the same query: %q %v, want %q", inner, err, v)
		}
		for k := 0; k < maxCachedStmts; k++ {
			var x int
			if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT $1 + %d`, k), id).Scan(&x); err != nil || x != id+k {
				t.Fatalf("query %d: %d %v", k, x, err)
			}
		}
		seen = append(seen, fmt.Sprint(id, v, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, " "); got != "1v13 2v22 3v31" {
		t.Fatalf("rows %q", got)
	}

	if _, err := db.ExecContext(ctx, `SELECT nonsense FROM`); err == nil {
		t.Fatal("a syntax error was accepted")
	}
	if _, err := db.ExecContext(ctx, `SELECT nonsense FROM`); err == nil {
		t.Fatal("a syntax error was accepted the second time")
	}
	star := func() int {
		rows, err := db.QueryContext(ctx, `SELECT * FROM t WHERE id = $1`, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		return len(cols)
	}
	before := star()
	if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN w INTEGER`); err != nil {
		t.Fatal(err)
	}
	if after := star(); before != 2 || after != 3 {
		t.Fatalf("columns of SELECT * before and after ALTER TABLE: %d %d", before, after)
	}
}

// BenchmarkSQLiteQueryRow is the shape of most lookups (a channel by
// slug): one indexed row.
func BenchmarkSQLiteQueryRow(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "b.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE channels (id INTEGER PRIMARY KEY, slug TEXT UNIQUE, owner_id INTEGER)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO channels (slug, owner_id) VALUES ('bench', 7)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		var id, owner int64
		if err := db.QueryRowContext(ctx, `SELECT id, owner_id FROM channels WHERE slug = $1`, "bench").Scan(&id, &owner); err != nil {
			b.Fatal(err)
		}
	}
}
