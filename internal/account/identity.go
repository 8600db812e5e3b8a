package account

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/bus"
	"github.com/livehouse/livehouse/internal/policy"
)

// IdentityChange is the payload of a bus.IdentityChanged event: what
// happened to the account (the event's UserID). Every node's WebSocket
// gateway hears it and re-checks (or closes) the account's open
// connections, so a ban, log-out or deletion reaches sockets opened before it.
type IdentityChange struct {
	// Kind: logout, password, deleted, token_revoked, roles, banned, unbanned.
	Kind string `json:"kind"`
}

// Kinds of IdentityChange.
const (
	IdentityLogout       = "logout"
	IdentityPassword     = "password"
	IdentityDeleted      = "deleted"
	IdentityTokenRevoked = "token_revoked"
	IdentityRoles        = "roles"
	IdentityBanned       = "banned"
	IdentityUnbanned     = "unbanned"
)

// ErrIdentityGone is Refresh's answer when the login behind a principal no
// longer exists: session ended, token revoked, or account deleted.
var ErrIdentityGone = errors.New("the login of this connection has ended")

// IdentityChanged tells every node that an account's identity or rights
// changed (kind: one of the Identity constants); moderation calls it for
// platform bans.
func (s *Service) IdentityChanged(userID int64, kind string) {
	s.auth.forget(userID) // here at once; other nodes when the event arrives
	payload, _ := json.Marshal(IdentityChange{Kind: kind})
	s.announce(bus.Event{Type: bus.IdentityChanged, UserID: userID, Payload: payload})
}

// Refresh re-reads who p is now: its session or token must still exist and
// its account must not be deleted (else ErrIdentityGone); roles and the
// platform ban are read again. Anonymous principals and the admin token are
// returned as they are.
func (s *Service) Refresh(ctx context.Context, p policy.Principal) (policy.Principal, error) {
	if p.User == nil {
		return p, nil
	}
	switch p.Via {
	case "session":
		if p.Session == nil {
			return p, ErrIdentityGone
		}
		var exp int64
		err := s.DB.QueryRowContext(ctx, `SELECT expires_at FROM sessions WHERE token_hash = $1 AND user_id = $2`,
			p.Session.TokenHash, p.User.ID).Scan(&exp)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && time.Now().After(time.UnixMilli(exp))) {
			return p, ErrIdentityGone
		}
		if err != nil {
			return p, fmt.Errorf("re-read session: %w", err)
		}
	case "token":
		var n int
		err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
			p.TokenID, p.User.ID).Scan(&n)
		if err != nil {
			return p, fmt.Errorf("re-read token: %w", err)
		}
		if n == 0 {
			return p, ErrIdentityGone
		}
	default:
		return p, ErrIdentityGone
	}
	u, err := s.Users.Get(ctx, p.User.ID)
	if errors.Is(err, ErrNoUser) {
		return p, ErrIdentityGone
	}
	if err != nil {
		return p, err
	}
	banned, err := s.roles.PlatformBanned(ctx, u.ID, time.Now())
	if err != nil {
		return p, err
	}
	p.User, p.PlatformBanned = &u, banned
	return p, nil
}
