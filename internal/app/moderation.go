package app

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/moderation/filter"
	"github.com/livehouse/livehouse/internal/policy"
)

// moderationStage builds the content filter stage every text passes
// (danmaku, check-message, names, titles) from the filters in o, and the
// screen names and titles go through.
func (a *App) moderationStage(st *moderation.Store, o options, log *slog.Logger) (*moderation.Stage, nameScreen) {
	filters := []moderation.Filter{engineFilter{a}}
	if o.filter != nil {
		filters = append(filters, o.filter)
	}
	stage := moderation.NewStage(st, moderation.DefaultDeadline, filters...)
	return stage, nameScreen{&moderation.Names{Stage: stage, Store: st, Log: log.With("component", "moderation")}}
}

// engineFilter is the content filter engine (filter.Engine) as a filter
// of the moderation stage. The stage is built before the engine (account,
// built first, screens usernames through it), so the engine is looked up
// on each call; until it exists everything passes.
type engineFilter struct{ a *App }

// Bounded: the engine reads only memory, so the stage runs it inline.
func (engineFilter) Bounded() bool { return true }

func (f engineFilter) Screen(ctx context.Context, in moderation.Input) moderation.Verdict {
	e := f.a.ContentFilter
	if e == nil {
		return moderation.Verdict{Action: moderation.Allow}
	}
	r := e.Check(ctx, filter.Input{ChannelID: in.ChannelID, Text: in.Text, Level: in.Level, Kind: in.Kind,
		UserID: in.UserID, AccountAge: in.AccountAge, Room: in.Room})
	v := moderation.Verdict{Action: moderation.Action(r.Action), Score: r.Score, Category: r.Category}
	if r.Text != in.Text {
		v.Text = r.Text // replace-terms masked
	}
	if len(r.Reasons) > 0 {
		v.Reasons, _ = json.Marshal(r.Reasons)
	}
	return v
}

// nameScreen adapts moderation.Names to the hooks of the domains that
// name things: account (usernames), money (gift, tier, medal names),
// channel (titles).
type nameScreen struct{ n *moderation.Names }

// Username screens a username at sign-up (no account yet).
func (s nameScreen) Username(ctx context.Context, name string) error {
	return s.n.Screen(ctx, moderation.KindName, 0, 0, name, name)
}

// Label screens a gift, tier or medal name set by the caller in ctx.
func (s nameScreen) Label(ctx context.Context, channelID int64, name string) error {
	p := policy.PrincipalFrom(ctx)
	return s.n.Screen(ctx, moderation.KindGift, channelID, p.UserID(), username(p), name)
}

// Title screens a channel title.
func (s nameScreen) Title(ctx context.Context, channelID, userID int64, title string) error {
	return s.n.Screen(ctx, moderation.KindTitle, channelID, userID, username(policy.PrincipalFrom(ctx)), title)
}

func username(p policy.Principal) string {
	if p.User != nil {
		return p.User.Username
	}
	return ""
}

// lateRooms is the room domain as moderation sees it: moderation is built
// before the room (the room reads its store), so the room is looked up
// when a moderator's decision needs it, by which time it exists.
type lateRooms struct{ a *App }

func (l lateRooms) Release(ctx context.Context, channelID int64, payload []byte) (int64, error) {
	return l.a.Rooms.Release(ctx, channelID, payload)
}

func (l lateRooms) Reviewed(channelID int64, ticket, decision string) {
	l.a.Rooms.Reviewed(channelID, ticket, decision)
}
