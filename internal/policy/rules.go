package policy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Rules are a channel's interaction rules, set by its owner or moderators.
type Rules struct {
	MinLevel          int  `json:"min_level"`
	MinAccountAgeSecs int  `json:"min_account_age_seconds"`
	LinksMinLevel     int  `json:"links_min_level"`
	SlowModeSecs      int  `json:"slow_mode_seconds"`
	FollowersOnly     bool `json:"followers_only"`
	MembersOnly       bool `json:"members_only"`
	MedalOnly         bool `json:"medal_only"`
	// MedalMinLevel is the fan-medal level medal-only mode asks for (0 and
	// 1: any medal).
	MedalMinLevel int `json:"medal_min_level"`
	MaxLength     int `json:"max_length"`
}

// DefaultRules apply to a channel that set none.
func DefaultRules() Rules { return Rules{MaxLength: 200} }

// Validate bounds every field.
func (r Rules) Validate() error {
	switch {
	case r.MinLevel < 0 || r.MinLevel > 60:
		return invalid("min_level must be 0 to 60")
	case r.LinksMinLevel < 0 || r.LinksMinLevel > 61:
		return invalid("links_min_level must be 0 to 61 (61 forbids links)")
	case r.MinAccountAgeSecs < 0 || r.MinAccountAgeSecs > 365*24*3600:
		return invalid("min_account_age_seconds must be 0 to a year")
	case r.SlowModeSecs < 0 || r.SlowModeSecs > 3600:
		return invalid("slow_mode_seconds must be 0 to 3600")
	case r.MedalMinLevel < 0 || r.MedalMinLevel > 40:
		return invalid("medal_min_level must be 0 to 40")
	case r.MaxLength < 1 || r.MaxLength > 500:
		return invalid("max_length must be 1 to 500")
	}
	return nil
}

// Speaker is what the rule check knows of the person sending a message.
type Speaker struct {
	Level      int
	AccountAge time.Duration
	Follows    bool
	Fan        FanBadge
	Privileged bool // owner, moderator or admin: rules do not bind them
	// LastSent is when they last sent in this channel (zero if never).
	LastSent time.Time
}

// FanBadge is what a viewer's support of a channel shows next to their
// name there; the money domain computes it.
type FanBadge struct {
	MemberTier int    `json:"member_tier,omitempty"` // 0: not an active member
	MedalName  string `json:"medal,omitempty"`
	MedalLevel int    `json:"medal_level,omitempty"` // 0: no medal
	// MemberUntil is when the membership runs out (Unix ms; 0 without
	// one), so a badge kept in memory expires on time.
	MemberUntil int64 `json:"-"`
}

// At is the badge as it stands at now: a membership that ran out no longer
// shows.
func (b FanBadge) At(now time.Time) FanBadge {
	if b.MemberTier != 0 && b.MemberUntil != 0 && now.UnixMilli() >= b.MemberUntil {
		b.MemberTier, b.MemberUntil = 0, 0
	}
	return b
}

// RuleViolation is a refused message, with a code clients can act on.
type RuleViolation struct {
	Code       string // too_long, empty, level, account_age, links, slow_mode, followers_only, members_only, medal_only
	Msg        string
	RetryAfter time.Duration // for slow mode
}

func (v *RuleViolation) Error() string { return v.Msg }

// As answers a refused message over HTTP (httpjson.Fail): 403 with its
// code, and Retry-After in slow mode.
func (v *RuleViolation) As(target any) bool {
	p, ok := target.(**httpjson.Problem)
	if ok {
		*p = &httpjson.Problem{Status: http.StatusForbidden, Code: v.Code, Message: v.Msg, Retry: v.RetryAfter}
	}
	return ok
}

var linkPattern = regexp.MustCompile(`(?i)(https?://|www\.|\b[a-z0-9-]+\.(com|net|org|io|cn|tv|gg|me|ly|co|xyz|top|cc)\b)`)

// CheckMessage applies a channel's rules to one message. Mutes and bans are
// the policy's business (Decide); this is everything about the message.
func CheckMessage(r Rules, s Speaker, text string, now time.Time) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return &RuleViolation{Code: "empty", Msg: "message is empty"}
	}
	if n := utf8.RuneCountInString(text); n > r.MaxLength {
		return &RuleViolation{Code: "too_long", Msg: fmt.Sprintf("message is %d characters; this channel allows %d", n, r.MaxLength)}
	}
	if s.Privileged {
		return nil
	}
	if s.Level < r.MinLevel {
		return &RuleViolation{Code: "level", Msg: fmt.Sprintf("this channel needs level %d to chat; you are level %d", r.MinLevel, s.Level)}
	}
	if need := time.Duration(r.MinAccountAgeSecs) * time.Second; s.AccountAge < need {
		return &RuleViolation{Code: "account_age", Msg: fmt.Sprintf("accounts must be %v old to chat here", need)}
	}
	if r.FollowersOnly && !s.Follows {
		return &RuleViolation{Code: "followers_only", Msg: "followers-only mode: follow the channel to chat"}
	}
	if r.MembersOnly && s.Fan.MemberTier == 0 {
		return &RuleViolation{Code: "members_only", Msg: "members-only mode: become a member of this channel to chat"}
	}
	if need := max(r.MedalMinLevel, 1); r.MedalOnly && s.Fan.MedalLevel < need {
		msg := "fan-medal-only mode: send this channel a gift to earn its medal"
		if need > 1 {
			msg = fmt.Sprintf("fan-medal-only mode: this channel needs its medal at level %d; yours is %d", need, s.Fan.MedalLevel)
		}
		return &RuleViolation{Code: "medal_only", Msg: msg}
	}
	if s.Level < r.LinksMinLevel && linkPattern.MatchString(text) {
		return &RuleViolation{Code: "links", Msg: fmt.Sprintf("links need level %d in this channel", r.LinksMinLevel)}
	}
	if r.SlowModeSecs > 0 && !s.LastSent.IsZero() {
		if wait := s.LastSent.Add(time.Duration(r.SlowModeSecs) * time.Second).Sub(now); wait > 0 {
			return &RuleViolation{Code: "slow_mode", Msg: fmt.Sprintf("slow mode: wait %ds", int(wait.Seconds()+0.999)), RetryAfter: wait}
		}
	}
	return nil
}
