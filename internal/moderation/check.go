package moderation

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// CheckSpeaker runs every check a chat message goes through in a channel:
// the policy (login, bans, mutes), the channel's rules and the content
// filter (a block is refused with *Blocked; hide and hold pass here). It
// returns the channel and the sender's fan badge there (shown with the
// message). It reads the store; the room's danmaku path keeps the same
// facts in memory instead.
func (s *Service) CheckSpeaker(ctx context.Context, slug, text string, lastSent time.Time) (int64, policy.FanBadge, error) {
	chID, owner, err := s.Channels.OpenChannel(ctx, slug)
	if err != nil {
		return 0, policy.FanBadge{}, err
	}
	p, err := s.Accounts.AuthorizeContext(ctx, policy.ActChatSend, chID, owner)
	if err != nil {
		return chID, policy.FanBadge{}, err
	}
	rules, err := s.Store.Rules(ctx, chID)
	if err != nil {
		return chID, policy.FanBadge{}, err
	}
	sp := policy.Speaker{LastSent: lastSent}
	if p.User != nil {
		sp.Level = p.User.Level()
		sp.AccountAge = p.User.AccountAge(time.Now())
		mod, err := s.Store.IsModerator(ctx, chID, p.User.ID)
		if err != nil {
			return chID, policy.FanBadge{}, err
		}
		sp.Privileged = p.User.IsAdmin || p.User.ID == owner || mod
		if sp.Follows, err = s.Follows.Follows(ctx, p.User.ID, chID); err != nil {
			return chID, policy.FanBadge{}, err
		}
		if s.Fans != nil {
			if sp.Fan, err = s.Fans.Standing(ctx, p.User.ID, chID, slug); err != nil {
				return chID, policy.FanBadge{}, err
			}
		}
	}
	if err := policy.CheckMessage(rules, sp, text, time.Now()); err != nil {
		return chID, sp.Fan, err
	}
	if sp.Privileged {
		return chID, sp.Fan, nil
	}
	in := Input{ChannelID: chID, Room: slug, Kind: KindChat, Text: text}
	if p.User != nil {
		in.UserID, in.AccountAge = p.User.ID, sp.AccountAge
	}
	if v := s.Screen.Screen(ctx, in); v.Action == Block {
		return chID, sp.Fan, &Blocked{Category: v.Category}
	}
	return chID, sp.Fan, nil
}

// checkMessage answers POST /api/channels/{slug}/check-message: whether the
// caller may say text there now.
func (s *Service) checkMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Text string `json:"text"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if _, _, err := s.CheckSpeaker(r.Context(), r.PathValue("slug"), in.Text, time.Time{}); err != nil {
		var b *Blocked
		if errors.As(err, &b) {
			err = b.Problem()
		}
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"allowed": true})
}
