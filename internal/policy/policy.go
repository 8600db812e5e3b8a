// Package policy says who may do what. It is pure: no database, no HTTP.
// It holds what every domain reasons about — the principal asking, the
// actions they ask for, their roles in a channel, the platform switches,
// the chat rules — and the one place that decides (Decide). The account
// domain finds the principal; moderation knows their roles in a channel.
package policy

import (
	"context"
	"slices"
)

// Action is something a principal may or may not do.
type Action string

// Every permission Livehouse checks. Handlers ask Decide; none of them
// re-implements a rule.
const (
	ActWatch            Action = "watch"
	ActChatSend         Action = "chat.send"
	ActReport           Action = "report.create"
	ActFollow           Action = "channel.follow"
	ActChannelCreate    Action = "channel.create"
	ActChannelManage    Action = "channel.manage"
	ActChannelModerate  Action = "channel.moderate"
	ActAppointModerator Action = "channel.appoint_moderator"
	ActPlatformAdmin    Action = "platform.admin"
	ActAccountManage    Action = "account.manage"
	ActAccountRead      Action = "account.read"
	// ActSpend spends the caller's coins in a channel (gifts, memberships).
	ActSpend Action = "wallet.spend"
	// ActPayout moves a channel's earnings out (withdrawals).
	ActPayout Action = "channel.payout"
)

// AllActions lists every action, for the permission matrix.
func AllActions() []Action {
	return []Action{ActWatch, ActChatSend, ActReport, ActFollow, ActChannelCreate, ActChannelManage,
		ActChannelModerate, ActAppointModerator, ActPlatformAdmin, ActAccountManage, ActAccountRead, ActSpend, ActPayout}
}

// tokenScope is the scope a personal token needs for an action; ok is
// false for actions that cannot be done with a token at all.
func tokenScope(a Action) (scope string, ok bool) {
	switch a {
	case ActWatch:
		return "", true
	case ActAccountRead:
		return ScopeAccountRead, true
	case ActChatSend, ActReport, ActFollow:
		return ScopeChatWrite, true
	case ActChannelCreate, ActChannelManage, ActAppointModerator:
		return ScopeChannelManage, true
	case ActChannelModerate:
		return ScopeModerate, true
	case ActSpend:
		return ScopeWalletSpend, true
	case ActPayout:
		return ScopeChannelPayout, true
	}
	return "", false
}

// Principal is who is asking: an account (through a session or a personal
// token), the platform admin token, or an anonymous visitor.
type Principal struct {
	User *User
	// Via is "session", "token", "admin-token", or "" for anonymous.
	Via string
	// Scopes of a personal token; nil for sessions and the admin token.
	Scopes []string
	// TokenID is the personal token's id (Via "token").
	TokenID int64
	Session *Session
	// PlatformBanned: a platform-wide ban is in force.
	PlatformBanned bool
}

// IsAdmin reports platform-admin rights.
func (p Principal) IsAdmin() bool {
	return p.Via == "admin-token" || (p.User != nil && p.User.IsAdmin)
}

// UserID is the account's id, or 0.
func (p Principal) UserID() int64 {
	if p.User == nil {
		return 0
	}
	return p.User.ID
}

// ChannelRoles is what the policy needs to know about the principal in one
// channel; zero value for actions that concern no channel.
type ChannelRoles struct {
	ChannelID   int64
	OwnerID     int64
	IsModerator bool
	Banned      bool // a channel ban is in force
	Muted       bool // a timed mute is in force
}

// Decide is the one place that says whether p may do a in a channel.
func Decide(p Principal, a Action, ch ChannelRoles, s Settings) error {
	if a == ActWatch {
		return nil
	}
	if p.Via == "" {
		return &Denied{Reason: "log in first", Anonymous: true}
	}
	if p.Via == "token" {
		scope, ok := tokenScope(a)
		if !ok {
			return deny("personal API tokens cannot do this; use a logged-in session")
		}
		if scope != "" && !slices.Contains(p.Scopes, scope) {
			return deny("this token lacks the " + scope + " scope")
		}
	}
	if p.IsAdmin() {
		if p.Via == "admin-token" && (a == ActAccountManage || a == ActAccountRead || a == ActChatSend || a == ActReport || a == ActFollow || a == ActSpend) {
			return deny("the admin token is not an account; log in as a user for this")
		}
		return nil
	}
	if p.PlatformBanned && a != ActAccountRead && a != ActAccountManage {
		return &Denied{Reason: "your account is banned from the platform", Kind: "platform_banned"}
	}
	isOwner := ch.OwnerID != 0 && ch.OwnerID == p.UserID()
	switch a {
	case ActAccountManage:
		if p.Via != "session" {
			return deny("account changes need a logged-in session")
		}
		return nil
	case ActAccountRead:
		return nil
	case ActChatSend, ActReport, ActFollow, ActSpend:
		if ch.Banned && !isOwner {
			return &Denied{Reason: "you are banned from this channel", Kind: "channel_banned"}
		}
		if a == ActChatSend && ch.Muted && !isOwner {
			return &Denied{Reason: "you are muted in this channel", Kind: "muted"}
		}
		return nil
	case ActChannelCreate:
		if p.User.CanStream || s.OpenStreaming {
			return nil
		}
		return deny("streaming is not enabled for your account; ask a platform admin")
	case ActChannelManage, ActAppointModerator, ActPayout:
		if isOwner {
			return nil
		}
		return deny("only the channel owner may do this")
	case ActChannelModerate:
		if isOwner || ch.IsModerator {
			return nil
		}
		return deny("only the channel's moderators may do this")
	case ActPlatformAdmin:
		return deny("only platform admins may do this")
	}
	return deny("not allowed")
}

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal (anonymous if none).
func PrincipalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
