package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/livehouse/livehouse/internal/moderation"
	"github.com/livehouse/livehouse/internal/policy"
)

// The moderation stage of a danmaku (after the permission checks, before
// the room log): allow → as usual; hide → delivered with its score so
// viewers can hide it above their shield level; hold → kept back for a
// moderator, the sender hears "pending review"; block → refused with the
// category. Moderators, the owner and admins are never screened.

// Verdicts keeps non-allow verdicts (the moderation store).
type Verdicts interface {
	RecordVerdict(ctx context.Context, v moderation.VerdictRecord) (moderation.VerdictRecord, error)
}

// Learner is the filter engine's classifier, told about moderators' deletes.
type Learner interface {
	Feedback(ctx context.Context, text string, offensive bool, source string) error
}

// Held answers a message the filter kept back for review: nothing was
// published; the sender holds Ticket and hears the decision as a room
// event {"type":"review","ticket","decision"}.
type Held struct{ Ticket string }

func (h *Held) Error() string { return "your message is waiting for a moderator's review" }

// moderate runs the moderation stage on a sender's text.
func (s *Service) moderate(ctx context.Context, p policy.Principal, channelID int64, slug, text string, privileged bool) moderation.Verdict {
	if s.screen == nil || privileged || p.User == nil {
		return moderation.Verdict{Action: moderation.Allow}
	}
	return s.screen.Screen(ctx, moderation.Input{ChannelID: channelID, Room: slug, Kind: moderation.KindChat, Text: text,
		UserID: p.User.ID, AccountAge: p.User.AccountAge(time.Now())})
}

// keep stores a verdict for moderators; payload is the held message.
// Failing to keep a hide only loses the explanation (logged), never the
// message; a hold or block must be kept (the caller refuses otherwise).
func (s *Service) keep(ctx context.Context, p policy.Principal, channelID int64, text string, v moderation.Verdict, payload []byte) (moderation.VerdictRecord, error) {
	if s.verdict == nil {
		return moderation.VerdictRecord{}, nil
	}
	rec, err := s.verdict.RecordVerdict(ctx, moderation.VerdictRecord{ChannelID: channelID, Kind: moderation.KindChat, UserID: p.User.ID,
		Username: p.User.Username, Text: text, Action: v.Action, Score: v.Score, Category: v.Category, Reasons: v.Reasons, Payload: payload})
	if err != nil {
		s.log.Warn("keep a filter verdict", "action", v.Action, "err", err)
	}
	return rec, err
}

// block refuses a blocked message, after keeping the verdict.
func (s *Service) block(ctx context.Context, p policy.Principal, channelID int64, text string, v moderation.Verdict) error {
	rec, _ := s.keep(ctx, p, channelID, text, v, nil) // refused either way; the ticket only enables an appeal
	return &moderation.Blocked{Category: v.Category, Ticket: rec.Ticket}
}

// hold keeps m back for review.
func (s *Service) hold(ctx context.Context, p policy.Principal, channelID int64, m Message, v moderation.Verdict) error {
	m.Score = max(v.Score, 1)
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode held message: %w", err)
	}
	rec, err := s.keep(ctx, p, channelID, m.Text, v, payload)
	if err != nil {
		return err
	}
	return &Held{Ticket: rec.Ticket}
}

// Release publishes a held message a moderator approved, as if just sent:
// a new id (so a reconnecting viewer's "after" finds it), the time of
// approval, the room's current slug, no score (a person cleared it).
func (s *Service) Release(ctx context.Context, channelID int64, payload []byte) (int64, error) {
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return 0, fmt.Errorf("decode held message: %w", err)
	}
	slug, err := s.channels.ChannelSlug(ctx, channelID)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	m.ID, m.Room, m.At, m.OffsetMS, m.Score = s.ids.next(now), slug, now.UnixMilli(), -1, 0
	if st, ok := s.live.Lookup(slug); ok {
		m.OffsetMS = now.Sub(st.StartedAt).Milliseconds()
	}
	if m.Reply != nil { // the quoted message may have been deleted meanwhile
		if q, err := s.quote(ctx, channelID, m.ReplyTo); errors.Is(err, ErrNoReply) {
			m.Reply, m.ReplyTo = nil, 0
		} else if err == nil {
			m.Reply = q
		}
	}
	if err := s.writer.append(ctx, channelID, m); err != nil {
		return 0, err
	}
	s.publish(channelID, event{Type: "danmaku", Message: &m})
	var mentioned []mention
	for _, name := range m.Mentions {
		if u, err := s.resolveName(ctx, name); err == nil {
			mentioned = append(mentioned, u)
		}
	}
	s.notices.add(notices(m, mentioned))
	return m.ID, nil
}

// resolveName is one @name of a released message (the cache or the store).
func (s *Service) resolveName(ctx context.Context, name string) (mention, error) {
	if s.users == nil {
		return mention{}, errors.New("no users")
	}
	u, err := s.users.ByName(ctx, name)
	if err != nil {
		return mention{}, err
	}
	return mention{id: u.ID, name: u.Username}, nil
}

// Reviewed tells a room, on every node, that a held message was decided:
// the sender's page, which holds the ticket, says so; others learn nothing
// (the ticket names neither the sender nor the text).
func (s *Service) Reviewed(channelID int64, ticket, decision string) {
	s.publishRaw(channelID, map[string]string{"type": "review", "ticket": ticket, "decision": decision})
}
