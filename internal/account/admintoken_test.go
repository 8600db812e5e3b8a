package account

import (
	"context"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func TestAdminTokenLifecycle(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a := NewAdmin(db)
		first, err := a.EnsureToken(ctx, "")
		if err != nil || !strings.HasPrefix(first, "lh_admin_") {
			t.Fatalf("first start: %q %v", first, err)
		}
		// A second start finds the stored token and shows nothing.
		if again, err := a.EnsureToken(ctx, ""); err != nil || again != "" {
			t.Fatalf("second start generated %q (%v)", again, err)
		}
		if ok, _ := a.Check(ctx, first); !ok {
			t.Fatal("generated token refused")
		}
		var stored string
		db.QueryRowContext(ctx, `SELECT secret_hash FROM platform_credentials`).Scan(&stored)
		if stored == first || strings.Contains(stored, first) {
			t.Fatal("token stored in clear")
		}
		// A configured token replaces it.
		if _, err := a.EnsureToken(ctx, "configured-token-123456"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := a.Check(ctx, first); ok {
			t.Fatal("old token still accepted after replacement")
		}
		if ok, _ := a.Check(ctx, "configured-token-123456"); !ok {
			t.Fatal("configured token refused")
		}
	}, Migrations())
}
