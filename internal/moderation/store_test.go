package moderation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/account"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func TestSanctionsExpireAndLift(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, _ := account.NewUsers(db)
		mod := NewStore(db)
		v, err := users.Create(ctx, account.NewUser{Username: "viewer1", Password: "viewer-password-1"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := mod.Sanction(ctx, "mute", 9, v.ID, 1, "spam", 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		muted, banned, pban, err := mod.Active(ctx, 9, v.ID, now)
		if err != nil || !muted || banned || pban {
			t.Fatalf("after mute: %v %v %v %v", muted, banned, pban, err)
		}
		if muted, _, _, _ := mod.Active(ctx, 10, v.ID, now); muted {
			t.Fatal("mute leaked into another channel")
		}
		if muted, _, _, _ := mod.Active(ctx, 9, v.ID, now.Add(11*time.Minute)); muted {
			t.Fatal("timed mute did not expire")
		}
		if _, err := mod.Sanction(ctx, "mute", 9, v.ID, 1, "x", 0); err == nil {
			t.Fatal("an endless mute was accepted")
		}
		if _, err := mod.Sanction(ctx, "ban", PlatformScope, v.ID, 1, "abuse", 0); err != nil {
			t.Fatal(err)
		}
		if _, _, pban, _ := mod.Active(ctx, 9, v.ID, now.Add(1000*time.Hour)); !pban {
			t.Fatal("permanent platform ban not in force")
		}
		if err := mod.Lift(ctx, "ban", PlatformScope, v.ID, 1); err != nil {
			t.Fatal(err)
		}
		if err := mod.Lift(ctx, "ban", PlatformScope, v.ID, 1); !errors.Is(err, ErrNoSanction) {
			t.Fatalf("second lift: %v", err)
		}
		log, err := mod.Log(ctx, PlatformScope, 10)
		if err != nil || len(log) != 2 || log[0].Action != "unban" || log[1].Action != "ban" || log[1].Target != "viewer1" {
			t.Fatalf("platform log = %+v %v", log, err)
		}
		chLog, _ := mod.Log(ctx, 9, 10)
		if len(chLog) != 1 || chLog[0].Action != "mute" || !strings.Contains(chLog[0].Detail, "spam") {
			t.Fatalf("channel log = %+v", chLog)
		}
	}, account.Migrations(), Migrations())
}
