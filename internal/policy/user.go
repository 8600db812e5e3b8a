package policy

import (
	"math"
	"time"
)

// User is an account, as the policy and every domain see it (the account
// domain stores it).
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email,omitempty"`
	IsAdmin   bool      `json:"is_admin"`
	CanStream bool      `json:"can_stream"`
	XP        int64     `json:"xp"`
	CreatedAt time.Time `json:"created_at"`
}

// Level is the user level shown next to the name.
func (u User) Level() int { return LevelForXP(u.XP) }

// AccountAge is how long ago the account was made.
func (u User) AccountAge(now time.Time) time.Duration { return now.Sub(u.CreatedAt) }

// Roles names what the account is, for /api/me and the UI.
func (u User) Roles() []string {
	roles := []string{"viewer"}
	if u.CanStream {
		roles = append(roles, "streamer")
	}
	if u.IsAdmin {
		roles = append(roles, "admin")
	}
	return roles
}

// LevelForXP: level n needs 50·n² experience (level 1 at 50 xp, 10 at
// 5,000, 30 at 45,000), capped at 60. Watching earns 1 xp a minute, so a
// regular viewer reaches level 3 in an evening and level 10 in a few weeks.
func LevelForXP(xp int64) int {
	if xp <= 0 {
		return 0
	}
	return min(int(math.Sqrt(float64(xp)/50)), 60)
}

// Session is the browser login a principal came with.
type Session struct {
	TokenHash string
	UserID    int64
	CSRF      string
	ExpiresAt time.Time
}

// Channel is what a channel-scoped request is about: the channel of its
// {slug}, resolved once.
type Channel struct {
	ID       int64
	OwnerID  int64 // 0: owned by the platform
	Slug     string
	Disabled bool // switched off by a platform admin
}
