package trust

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
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
	MaxLength         int  `json:"max_length"`
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
	Member     bool // becomes real when memberships land
	HasMedal   bool // becomes real when fan medals land
	Privileged bool // owner, moderator or admin: rules do not bind them
	// LastSent is when they last sent in this channel (zero if never).
	LastSent time.Time
}

// RuleViolation is a refused message, with a code clients can act on.
type RuleViolation struct {
	Code       string // too_long, empty, level, account_age, links, slow_mode, followers_only, members_only, medal_only
	Msg        string
	RetryAfter time.Duration // for slow mode
}

func (v *RuleViolation) Error() string { return v.Msg }

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
	if r.MembersOnly && !s.Member {
		return &RuleViolation{Code: "members_only", Msg: "members-only mode"}
	}
	if r.MedalOnly && !s.HasMedal {
		return &RuleViolation{Code: "medal_only", Msg: "fan-medal-only mode"}
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
