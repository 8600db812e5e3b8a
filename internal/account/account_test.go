package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

func TestUsernames(t *testing.T) {
	good := map[string]string{"alice": "alice", "Ａｌｉｃｅ": "Alice", "李雷": "李雷", "dj_max-2.0": "dj_max-2.0"}
	for in, display := range good {
		d, _, err := NormalizeUsername(in)
		if err != nil || d != display {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q", in, d, err, display)
		}
	}
	bad := []string{"", "a", strings.Repeat("a", 25), "has space", "tab\there", "nul\x00", "bell\a", "emoji🎮", "a<b>c", "bad\xffutf8"}
	for _, in := range bad {
		if _, _, err := NormalizeUsername(in); err == nil {
			t.Errorf("NormalizeUsername(%q) accepted", in)
		}
	}
	// Look-alikes share a key: case, width and Cyrillic/Latin confusables.
	_, k1, _ := NormalizeUsername("alice")
	for _, same := range []string{"ALICE", "Ａｌｉｃｅ", "\u0430lice" /* Cyrillic а */} {
		if _, k, err := NormalizeUsername(same); err != nil || k != k1 {
			t.Errorf("%q has key %q (%v), want %q", same, k, err, k1)
		}
	}
}

func FuzzNormalizeUsername(f *testing.F) {
	f.Add("alice")
	f.Add("Ａｌｉｃｅ")
	f.Add("\u0430lice")
	f.Fuzz(func(t *testing.T, s string) {
		d, k, err := NormalizeUsername(s)
		if err != nil {
			return
		}
		// Normalising the shown name again is stable.
		d2, k2, err := NormalizeUsername(d)
		if err != nil || d2 != d || k2 != k {
			t.Fatalf("%q -> %q/%q -> %q/%q (%v)", s, d, k, d2, k2, err)
		}
	})
}

func TestChallenges(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c, err := NewChallenges(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		ch := c.Issue("signup", "10.0.0.1", now)
		if ch.Difficulty != BaseDifficulty {
			t.Fatalf("difficulty %d", ch.Difficulty)
		}
		nonce := Solve(ch.Challenge, ch.Difficulty)
		// Tampered, wrong purpose, wrong nonce, too easy, expired: refused.
		tampered := strings.Replace(ch.Challenge, ".signup.", ".browse.", 1)
		mustFail := func(name string, err error) {
			var ce *httpjson.Problem
			if !errors.As(err, &ce) || ce.Status != 400 {
				t.Errorf("%s: %v, want a challenge refusal (400)", name, err)
			}
		}
		mustFail("tampered", c.Verify(ctx, "browse", tampered, nonce, BaseDifficulty, now))
		mustFail("wrong purpose", c.Verify(ctx, "browse", ch.Challenge, nonce, BaseDifficulty, now))
		mustFail("wrong nonce", c.Verify(ctx, "signup", ch.Challenge, nonce+"0", BaseDifficulty, now))
		mustFail("too easy", c.Verify(ctx, "signup", ch.Challenge, nonce, BaseDifficulty+1, now))
		mustFail("expired", c.Verify(ctx, "signup", ch.Challenge, nonce, BaseDifficulty, now.Add(ChallengeTTL+time.Second)))
		mustFail("empty", c.Verify(ctx, "signup", "", "", BaseDifficulty, now))
		if err := c.Verify(ctx, "signup", ch.Challenge, nonce, BaseDifficulty, now); err != nil {
			t.Fatalf("good solution refused: %v", err)
		}
		mustFail("reused", c.Verify(ctx, "signup", ch.Challenge, nonce, BaseDifficulty, now))
		// A second node (same database) shares the key and the spent list.
		c2, err := NewChallenges(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		mustFail("reused on another node", c2.Verify(ctx, "signup", ch.Challenge, nonce, BaseDifficulty, now))
		ch2 := c.Issue("signup", "10.0.0.9", now)
		if err := c2.Verify(ctx, "signup", ch2.Challenge, Solve(ch2.Challenge, ch2.Difficulty), BaseDifficulty, now); err != nil {
			t.Fatalf("another node refused a good solution: %v", err)
		}
		// Asking again and again, or crawling, makes it harder.
		for i := 0; i < 10; i++ {
			c.Issue("signup", "10.0.0.1", now)
		}
		if d := c.Difficulty("10.0.0.1", now); d <= BaseDifficulty {
			t.Errorf("difficulty after 11 challenges = %d", d)
		}
		c.MarkSuspect("10.0.0.2", now)
		if d := c.Difficulty("10.0.0.2", now); d < BaseDifficulty+4 {
			t.Errorf("suspect difficulty = %d", d)
		}
	}, Migrations())
}

func TestAccountsOnBothEngines(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, _ := NewUsers(db)
		u, err := users.Create(ctx, NewUser{Username: "Alice", Password: "alice-password-1", Email: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.Create(ctx, NewUser{Username: "ＡＬＩＣＥ", Password: "another-password"}); !errors.Is(err, ErrUsernameTaken) {
			t.Fatalf("look-alike name: %v", err)
		}
		for _, bad := range []NewUser{
			{Username: "bob", Password: "short"},
			{Username: "bobby", Password: "bobby"},
			{Username: "bobby", Password: "long-enough-pw", Email: "not-an-email"},
			{Username: "b o b", Password: "long-enough-pw"},
		} {
			var ve *httpjson.Problem
			if _, err := users.Create(ctx, bad); !errors.As(err, &ve) || ve.Status != 400 {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		var n int
		db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
		if n != 1 {
			t.Fatalf("%d users stored, want 1 (nothing half-way)", n)
		}
		if _, err := users.Authenticate(ctx, "alice", "wrong-password!"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("wrong password: %v", err)
		}
		if _, err := users.Authenticate(ctx, "nobody", "whatever-pass"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("unknown user: %v", err)
		}
		if got, err := users.Authenticate(ctx, "ALICE", "alice-password-1"); err != nil || got.ID != u.ID {
			t.Fatalf("login by another spelling: %v", err)
		}
		var hash string
		db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash)
		if !strings.HasPrefix(hash, "$argon2id$") {
			t.Fatalf("stored hash %q is not argon2id", hash)
		}
		if err := users.AddXP(ctx, u.ID, 5000); err != nil {
			t.Fatal(err)
		}
		got, _ := users.Get(ctx, u.ID)
		if got.Level() != 10 {
			t.Fatalf("level at 5000 xp = %d", got.Level())
		}
		found, _ := users.Search(ctx, "al", 10)
		if len(found) != 1 || found[0].ID != u.ID {
			t.Fatalf("search: %+v", found)
		}
		if err := users.Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := users.Authenticate(ctx, "alice", "alice-password-1"); !errors.Is(err, ErrBadLogin) {
			t.Fatal("deleted account can log in")
		}
		if _, err := users.Create(ctx, NewUser{Username: "alice", Password: "alice-password-2"}); err != nil {
			t.Fatalf("name not freed by deletion: %v", err)
		}
	}, Migrations())
}

func FuzzChallengeVerify(f *testing.F) {
	db := storetest.Open(f, store.SQLite, Migrations())
	c, err := NewChallenges(context.Background(), db)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	good := c.Issue("signup", "1.2.3.4", now)
	f.Add(good.Challenge, Solve(good.Challenge, good.Difficulty))
	f.Add("a.b.c.d.e", "1")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, challenge, nonce string) {
		err := c.Verify(context.Background(), "signup", challenge, nonce, BaseDifficulty, now)
		if err == nil && challenge != good.Challenge {
			t.Fatalf("forged challenge %q accepted", challenge)
		}
	})
}

func TestWatchXPAtMostOncePerMinute(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, _ := NewUsers(db)
		u, err := users.Create(ctx, NewUser{Username: "watcher", Password: "watcher-password"})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		var earned int
		// Two tabs beating every 30 s for 10 minutes earn 10 points, not 40.
		for i := 0; i < 40; i++ {
			at := now.Add(time.Duration(i/2) * 30 * time.Second)
			if ok, err := users.AwardWatchXP(ctx, u.ID, at); err != nil {
				t.Fatal(err)
			} else if ok {
				earned++
			}
		}
		got, _ := users.Get(ctx, u.ID)
		if earned != 10 || got.XP != 10 {
			t.Fatalf("earned %d points, xp %d; want 10", earned, got.XP)
		}
	}, Migrations())
}
