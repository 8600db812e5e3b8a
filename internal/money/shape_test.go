package money

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneWayForCoinsAndEvents: coins move only through ledger.Post (the
// ledger package is the only code that writes ledger rows or balances),
// events leave only through outbox.Add (only the outbox package writes
// the outbox), and no file spells a bus subject (events carry a type from
// the bus package).
func TestOneWayForCoinsAndEvents(t *testing.T) {
	owners := []struct {
		dir      string
		patterns []string
	}{
		{"ledger", []string{"INSERT INTO ledger_entries", "INSERT INTO ledger_txs", "UPDATE ledger_accounts", "UPDATE ledger_entries"}},
		{"outbox", []string{"INSERT INTO outbox", "UPDATE outbox", "DELETE FROM outbox"}},
		{"(nowhere)", []string{`"room.`, `"money.notice`}},
	}
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for _, o := range owners {
			if strings.HasPrefix(path, o.dir+string(filepath.Separator)) {
				continue
			}
			for _, p := range o.patterns {
				if strings.Contains(string(data), p) {
					t.Errorf("%s has %s: only %s/ may", path, p, o.dir)
				}
			}
		}
		return nil
	})
	if err != nil || checked < 20 {
		t.Fatalf("checked %d files: %v", checked, err)
	}
}
