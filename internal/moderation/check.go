package moderation

import (
	"context"
	"net/http"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// CheckSpeaker runs every check a chat message goes through in a channel:
// the policy (login, bans, mutes), the channel's rules and the Filter. It
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
	return chID, sp.Fan, s.Filter.Check(ctx, chID, text)
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
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"allowed": true})
}
