package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

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
