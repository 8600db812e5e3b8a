package trust

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

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

func TestMessageRules(t *testing.T) {
	now := time.Now()
	r := Rules{MinLevel: 2, MinAccountAgeSecs: 3600, LinksMinLevel: 5, SlowModeSecs: 10, MaxLength: 20}
	ok := Speaker{Level: 5, AccountAge: 2 * time.Hour}
	cases := []struct {
		sp   Speaker
		text string
		code string
	}{
		{ok, "hello", ""},
		{ok, "   ", "empty"},
		{ok, strings.Repeat("长", 21), "too_long"},
		{Speaker{Level: 1, AccountAge: 2 * time.Hour}, "hi", "level"},
		{Speaker{Level: 3, AccountAge: time.Minute}, "hi", "account_age"},
		{Speaker{Level: 3, AccountAge: 2 * time.Hour}, "see www.spam.com", "links"},
		{Speaker{Level: 3, AccountAge: 2 * time.Hour}, "go to http://x.io", "links"},
		{Speaker{Level: 3, AccountAge: 2 * time.Hour}, "3.14 is pi", ""},
		{ok, "see www.ok.com", ""},
		{Speaker{Level: 5, AccountAge: 2 * time.Hour, LastSent: now.Add(-3 * time.Second)}, "again", "slow_mode"},
		{Speaker{Level: 5, AccountAge: 2 * time.Hour, LastSent: now.Add(-11 * time.Second)}, "again", ""},
		{Speaker{Privileged: true, LastSent: now}, "www.mod.com", ""},
	}
	for _, c := range cases {
		err := CheckMessage(r, c.sp, c.text, now)
		var v *RuleViolation
		code := ""
		if errors.As(err, &v) {
			code = v.Code
		} else if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		if code != c.code {
			t.Errorf("%q by %+v: code %q, want %q", c.text, c.sp, code, c.code)
		}
	}
	modes := Rules{FollowersOnly: true, MaxLength: 200}
	if err := CheckMessage(modes, Speaker{}, "hi", now); err == nil {
		t.Error("followers-only let a non-follower speak")
	}
	if err := CheckMessage(modes, Speaker{Follows: true}, "hi", now); err != nil {
		t.Errorf("follower refused: %v", err)
	}
	if err := CheckMessage(Rules{MembersOnly: true, MaxLength: 9}, Speaker{}, "hi", now); err == nil {
		t.Error("members-only let a non-member speak")
	}
	if err := CheckMessage(Rules{MedalOnly: true, MaxLength: 9}, Speaker{}, "hi", now); err == nil {
		t.Error("medal-only let a speaker without a medal speak")
	}
	if err := CheckMessage(Rules{MembersOnly: true, MaxLength: 9}, Speaker{Fan: FanBadge{MemberTier: 1}}, "hi", now); err != nil {
		t.Errorf("member refused in members-only mode: %v", err)
	}
	medal := Rules{MedalOnly: true, MedalMinLevel: 3, MaxLength: 9}
	for level, ok := range map[int]bool{0: false, 2: false, 3: true, 9: true} {
		err := CheckMessage(medal, Speaker{Fan: FanBadge{MedalName: "X", MedalLevel: level}}, "hi", now)
		if (err == nil) != ok {
			t.Errorf("medal level %d in a level-3 medal room: %v", level, err)
		}
	}
	if err := CheckMessage(Rules{MedalOnly: true, MaxLength: 9}, Speaker{Fan: FanBadge{MedalLevel: 1}}, "hi", now); err != nil {
		t.Errorf("any medal refused in medal-only mode: %v", err)
	}
	if (Rules{MaxLength: 9, MedalMinLevel: 41}).Validate() == nil {
		t.Error("medal level 41 accepted")
	}
	if (Rules{MaxLength: 0}).Validate() == nil || (Rules{MaxLength: 10, SlowModeSecs: -1}).Validate() == nil {
		t.Error("invalid rules accepted")
	}
}

func TestLimiterAndThrottle(t *testing.T) {
	now := time.Now()
	l := NewLimiter(3, time.Minute)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("a", now); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	ok, wait := l.Allow("a", now)
	if ok || wait < 15*time.Second || wait > 25*time.Second {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for ~20s", ok, wait)
	}
	if ok, _ := l.Allow("b", now); !ok {
		t.Fatal("another key was limited")
	}
	if ok, _ := l.Allow("a", now.Add(21*time.Second)); !ok {
		t.Fatal("bucket did not refill")
	}

	th := NewLoginThrottle()
	for i := 0; i < 3; i++ {
		th.Fail(now, "name:x")
	}
	if w := th.Wait(now, "name:x"); w != 0 {
		t.Fatalf("free failures cost %v", w)
	}
	var last time.Duration
	for i := 0; i < 4; i++ {
		th.Fail(now, "name:x")
		w := th.Wait(now, "name:x")
		if w <= last {
			t.Fatalf("delay did not grow: %v after %v", w, last)
		}
		last = w
	}
	if th.Wait(now, "name:y") != 0 {
		t.Fatal("another name was throttled")
	}
	th.Succeed("name:x")
	if th.Wait(now, "name:x") != 0 {
		t.Fatal("success did not clear the delay")
	}
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
			var ce *ChallengeError
			if !errors.As(err, &ce) {
				t.Errorf("%s: %v, want a ChallengeError", name, err)
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

func TestSanctionsExpireAndLift(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		users, _ := NewUsers(db)
		mod := &Moderation{db: db}
		v, err := users.Create(ctx, NewUser{Username: "viewer1", Password: "viewer-password-1"})
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
			var ve *ValidationError
			if _, err := users.Create(ctx, bad); !errors.As(err, &ve) {
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
