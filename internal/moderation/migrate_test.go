package moderation

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/social"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// oldTrust is the trust domain's migration set as existing installs ran it
// (testdata/trust_before_split), up to version upTo.
func oldTrust(t *testing.T, upTo int) store.MigrationSet {
	files, err := filepath.Glob("testdata/trust_before_split/*.sql")
	if err != nil || len(files) != 6 {
		t.Fatalf("old trust migrations: %v %v", files, err)
	}
	fsys := fstest.MapFS{}
	for _, f := range files[:upTo] {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		fsys[filepath.Base(f)] = &fstest.MapFile{Data: data}
	}
	return store.MigrationSet{Domain: "trust", FS: fsys}
}

// newSets are today's sets for what trust held, in the app's order.
func newSets() []store.MigrationSet {
	return []store.MigrationSet{account.Migrations(), Migrations(), social.Migrations()}
}

// schema lists every table with its columns and every index, by name.
func schema(t *testing.T, db *store.DB) []string {
	t.Helper()
	ctx := context.Background()
	var q string
	if db.Dialect == store.Postgres {
		q = `SELECT 'table ' || table_name || ': ' || column_name FROM information_schema.columns WHERE table_schema = current_schema()
			UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname NOT LIKE '%_pkey'`
	} else {
		q = `SELECT 'table ' || m.name || ': ' || c.name FROM sqlite_master m JOIN pragma_table_info(m.name) c WHERE m.type = 'table'
			UNION ALL SELECT 'index ' || name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s, "schema_migrations") && !strings.Contains(s, "sqlite_sequence") {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// bornAfterSplit are tables moderation made after the split (the content
// filter's), which no trust-era schema has.
var bornAfterSplit = []string{"channel_filter", "filter_verdicts", "filter_appeals"}

// sinceSplit drops bornAfterSplit's tables and indexes from a schema list.
func sinceSplit(schema []string) []string {
	return slices.DeleteFunc(schema, func(s string) bool {
		for _, t := range bornAfterSplit {
			if strings.HasPrefix(s, "table "+t+":") || strings.HasPrefix(s, "index "+t+"_") {
				return true
			}
		}
		return false
	})
}

// TestMigrationsKeepExistingInstalls: a database that ran the trust
// migrations before the split (all six, or five: an install from before
// medal levels) migrates with today's account, moderation and social sets
// to exactly the schema it had (or should have had), keeps its rows, and a
// fresh install gets the same schema with each table made once, by the
// domain that owns it.
func TestMigrationsKeepExistingInstalls(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, base *store.DB) {
		ctx := context.Background()
		full := storetest.Open(t, base.Dialect, oldTrust(t, 6))
		want := schema(t, full)
		for _, table := range []string{"users", "sessions", "api_tokens", "platform_settings", "platform_credentials", "spent_challenges",
			"channel_moderators", "channel_rules", "sanctions", "moderation_log", "reports", "follows"} {
			if !slices.ContainsFunc(want, func(s string) bool { return strings.HasPrefix(s, "table "+table+": ") }) {
				t.Fatalf("the old schema has no %s: %v", table, want)
			}
		}
		if !slices.Contains(want, "table channel_rules: medal_min_level") {
			t.Fatalf("the old schema has no medal_min_level: %v", want)
		}

		// An install that ran all six keeps its rows through the upgrade.
		exec := func(db *store.DB, q string, args ...any) {
			t.Helper()
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		exec(full, `INSERT INTO users (username, username_key, password_hash, created_at) VALUES ('old', 'old', 'x', 1)`)
		exec(full, `INSERT INTO channel_rules (channel_id, slow_mode_seconds, medal_only, medal_min_level, updated_at, updated_by) VALUES (7, 5, TRUE, 3, 1, 1)`)
		exec(full, `INSERT INTO follows (user_id, channel_id, created_at) VALUES (1, 7, 1)`)
		exec(full, `INSERT INTO sanctions (kind, channel_id, user_id, reason, issuer_id, created_at) VALUES ('mute', 7, 1, 'spam', 1, 1)`)
		if err := full.Migrate(ctx, newSets()...); err != nil {
			t.Fatalf("upgrade an install that ran all six: %v", err)
		}
		if got := sinceSplit(schema(t, full)); !slices.Equal(got, want) {
			t.Errorf("upgraded schema differs:\n got %v\nwant %v", got, want)
		}
		rules, err := NewStore(full).Rules(ctx, 7)
		if err != nil || rules.SlowModeSecs != 5 || !rules.MedalOnly || rules.MedalMinLevel != 3 {
			t.Errorf("rules after the upgrade: %+v %v", rules, err)
		}
		if ok, err := social.NewStore(full).Follows(ctx, 1, 7); err != nil || !ok {
			t.Errorf("follow after the upgrade: %v %v", ok, err)
		}
		if muted, _, _, err := NewStore(full).Active(ctx, 7, 1, time.Now()); err != nil || !muted {
			t.Errorf("mute after the upgrade: %v %v", muted, err)
		}

		// An install from before medal levels gets the column now.
		five := storetest.Open(t, base.Dialect, oldTrust(t, 5))
		if err := five.Migrate(ctx, newSets()...); err != nil {
			t.Fatalf("upgrade an install that ran five: %v", err)
		}
		if got := sinceSplit(schema(t, five)); !slices.Equal(got, want) {
			t.Errorf("schema of an upgraded install from before medal levels differs:\n got %v\nwant %v", got, want)
		}

		// A fresh install: the same schema; account alone makes none of
		// moderation's or social's tables.
		fresh := storetest.Open(t, base.Dialect, newSets()...)
		if got := sinceSplit(schema(t, fresh)); !slices.Equal(got, want) {
			t.Errorf("fresh schema differs:\n got %v\nwant %v", got, want)
		}
		accountOnly := storetest.Open(t, base.Dialect, account.Migrations())
		for _, s := range schema(t, accountOnly) {
			for _, moved := range []string{"channel_moderators", "channel_rules", "sanctions", "moderation_log", "reports", "follows"} {
				if strings.HasPrefix(s, "table "+moved+":") {
					t.Fatalf("account's migrations still create %s", moved)
				}
			}
		}
		// Running everything again is a no-op, as on every restart.
		for _, db := range []*store.DB{full, five, fresh} {
			if err := db.Migrate(ctx, newSets()...); err != nil {
				t.Fatalf("migrate again: %v", err)
			}
		}
	})
}
