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
