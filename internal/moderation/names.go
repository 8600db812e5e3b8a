package moderation

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Names screens what people name things, when they name them: usernames at
// sign-up, channel titles, gift, tier and medal names, and report reasons.
// Only block and hold count (a name is not a chat line a viewer can hide):
//
//   - a name (username, gift, tier, medal) that is blocked or held is
//     refused with name_not_allowed: a name is shown everywhere at once, so
//     there is nothing to hold it back from; the person picks another;
//   - a channel title that is blocked is refused (title_not_allowed); one
//     that is held is saved and kept in the platform's queue for an admin
//     (kind "title"), since refusing borderline titles outright would stop
//     streamers going live over a false positive;
//   - a report reason that is blocked is refused (message_blocked); a held
//     one is filed and kept in the queue (reports quote what they report).
//
// Every block and hold is kept with its reasons, like chat verdicts.
type Names struct {
	Stage *Stage
	Store *Store
	Log   *slog.Logger
}

// NameLevel is the strictness names and titles are screened at.
const NameLevel = 2

// Refusals of names and titles.
var (
	ErrNameNotAllowed  = httpjson.NewProblem(http.StatusBadRequest, "name_not_allowed", "that name is not allowed; please choose another")
	ErrTitleNotAllowed = httpjson.NewProblem(http.StatusBadRequest, "title_not_allowed", "that title is not allowed; please change it")
)

// Screen screens text of kind (KindName, KindTitle, KindGift, KindReport)
// given by userID (0: not an account yet) in channelID (0: the platform),
// and returns nil when it may be used.
func (n *Names) Screen(ctx context.Context, kind string, channelID, userID int64, username, text string) error {
	if n == nil || n.Stage == nil || text == "" {
		return nil
	}
	v := n.Stage.Screen(ctx, Input{ChannelID: channelID, Kind: kind, Text: text, UserID: userID, Level: NameLevel})
	if v.Action != Block && v.Action != Hold {
		return nil
	}
	if n.Store != nil {
		if _, err := n.Store.RecordVerdict(ctx, VerdictRecord{ChannelID: channelID, Kind: kind, UserID: userID, Username: username,
			Text: text, Action: v.Action, Score: v.Score, Category: v.Category, Reasons: v.Reasons}); err != nil && n.Log != nil {
			n.Log.Warn("keep a name verdict", "kind", kind, "err", err)
		}
	}
	switch kind {
	case KindTitle:
		if v.Action == Block {
			return ErrTitleNotAllowed
		}
		return nil // saved; an admin reviews it
	case KindReport:
		if v.Action == Block {
			return (&Blocked{Category: v.Category}).Problem()
		}
		return nil
	}
	return ErrNameNotAllowed
}
