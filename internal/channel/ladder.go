package channel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// A channel's ABR ladder mode (README "ABR ladder"): LadderDefault follows
// the platform's --ladder; LadderOn and LadderOff override it for the
// channel. The media hub reads it when the channel goes live, so a change
// applies from the next stream.
const (
	LadderDefault = "default"
	LadderOn      = "on"
	LadderOff     = "off"
)

// ErrBadLadderMode refuses a mode other than default, on or off.
var ErrBadLadderMode = httpjson.BadRequest("bad_ladder_mode", `mode must be "default", "on" or "off"`)

// ErrBadLadderRungs refuses a rung choice that names no rung or a rung the
// platform does not offer.
var ErrBadLadderRungs = httpjson.BadRequest("bad_ladder_rungs", "choose at least one of the platform's renditions")

// LadderPlatform is what the platform says about the ladder: its default
// (--ladder), whether a ladder can run at all (ffmpeg is installed),
// whether channels may choose (--ladder-channels) and the rungs it offers
// (--ladder-rungs), highest first.
type LadderPlatform struct {
	Default bool
	FFmpeg  bool
	Choice  bool
	Rungs   []LadderRung
}

// LadderRung is one rendition the platform offers, as the studio shows it.
type LadderRung struct {
	Name    string `json:"name"`
	Height  int    `json:"height"`
	FPS     int    `json:"fps,omitempty"`
	Kbps    int    `json:"kbps"`
	Profile string `json:"profile"`
}

// LadderMode is a channel's ladder mode (LadderDefault when it never chose).
func (s *Service) LadderMode(ctx context.Context, channelID int64) (string, error) {
	mode, _, err := s.LadderSetting(ctx, channelID)
	return mode, err
}

// LadderSetting is a channel's ladder mode and its rung choice (nil: all
// the platform's rungs).
func (s *Service) LadderSetting(ctx context.Context, channelID int64) (mode string, rungs []string, err error) {
	var list string
	err = s.db.QueryRowContext(ctx, `SELECT mode, rungs FROM channel_ladder WHERE channel_id = $1`, channelID).Scan(&mode, &list)
	if errors.Is(err, sql.ErrNoRows) {
		return LadderDefault, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("read ladder mode of channel %d: %w", channelID, err)
	}
	if list != "" {
		rungs = strings.Split(list, ",")
	}
	return mode, rungs, nil
}

// SetLadderMode stores a channel's ladder mode, keeping its rung choice.
func (s *Service) SetLadderMode(ctx context.Context, channelID int64, mode string) error {
	switch mode {
	case LadderDefault, LadderOn, LadderOff:
	default:
		return ErrBadLadderMode
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO channel_ladder (channel_id, mode) VALUES ($1, $2)
		ON CONFLICT (channel_id) DO UPDATE SET mode = excluded.mode`, channelID, mode)
	if err != nil {
		return fmt.Errorf("save ladder mode of channel %d: %w", channelID, err)
	}
	return nil
}

// SetLadderRungs stores which of the platform's rungs (by name) a
// channel's streams get; none: all of them. offered is the platform's
// list: a name outside it is ErrBadLadderRungs.
func (s *Service) SetLadderRungs(ctx context.Context, channelID int64, rungs []string, offered []LadderRung) error {
	known := map[string]bool{}
	for _, r := range offered {
		known[r.Name] = true
	}
	var keep []string
	seen := map[string]bool{}
	for _, n := range rungs {
		if !known[n] {
			return ErrBadLadderRungs
		}
		if !seen[n] {
			seen[n] = true
			keep = append(keep, n)
		}
	}
	if len(keep) == len(offered) {
		keep = nil // every rung: follow the platform's list as it changes
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO channel_ladder (channel_id, mode, rungs) VALUES ($1, $2, $3)
		ON CONFLICT (channel_id) DO UPDATE SET rungs = excluded.rungs`, channelID, LadderDefault, strings.Join(keep, ","))
	if err != nil {
		return fmt.Errorf("save ladder rungs of channel %d: %w", channelID, err)
	}
	return nil
}

// LadderEffective is whether a channel in mode gets the ladder when the
// platform's default is platform.
func LadderEffective(mode string, platform bool) bool {
	switch mode {
	case LadderOn:
		return true
	case LadderOff:
		return false
	}
	return platform
}

// LadderFor is whether the channel's next stream gets the ladder (the
// media hub asks at go-live).
func (s *Service) LadderFor(ctx context.Context, channelID int64, platform bool) (bool, []string, error) {
	mode, rungs, err := s.LadderSetting(ctx, channelID)
	if err != nil {
		return platform, nil, err
	}
	return LadderEffective(mode, platform), rungs, nil
}

type ladderJSON struct {
	Mode      string `json:"mode"`
	Effective bool   `json:"effective"` // the next stream gets the ladder (when it can run)
	Platform  bool   `json:"platform"`  // the platform's default
	Available bool   `json:"available"` // the channel's choice counts: ffmpeg is installed and channels may choose
	// Reason says why not available: "no_ffmpeg" or "platform_only".
	Reason string `json:"reason,omitempty"`
	// Offered is the platform's rungs; Rungs the names the channel's
	// streams get (every offered one unless the owner chose fewer).
	Offered []LadderRung `json:"offered"`
	Rungs   []string     `json:"rungs"`
}

func (h *Handlers) ladderJSON(mode string, rungs []string) ladderJSON {
	p := h.Ladder
	out := ladderJSON{Mode: mode, Effective: p.Default, Platform: p.Default, Available: p.FFmpeg && p.Choice,
		Offered: p.Rungs, Rungs: chosenRungs(p.Rungs, rungs)}
	if out.Offered == nil {
		out.Offered = []LadderRung{}
	}
	if p.Choice {
		out.Effective = LadderEffective(mode, p.Default)
	} else {
		out.Reason = "platform_only"
	}
	if !p.FFmpeg {
		out.Reason = "no_ffmpeg"
	}
	return out
}

func (h *Handlers) getLadder(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	mode, rungs, err := h.Service.LadderSetting(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, h.ladderJSON(mode, rungs))
}

func (h *Handlers) putLadder(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	// Either field may be left out: mode alone, rungs alone, or both.
	var in struct {
		Mode  *string   `json:"mode"`
		Rungs *[]string `json:"rungs"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Mode == nil && in.Rungs == nil {
		httpjson.Fail(w, ErrBadLadderMode)
		return
	}
	if in.Rungs != nil && len(*in.Rungs) == 0 {
		httpjson.Fail(w, ErrBadLadderRungs)
		return
	}
	if in.Mode != nil {
		if err := h.Service.SetLadderMode(r.Context(), c.ID, *in.Mode); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	if in.Rungs != nil {
		if err := h.Service.SetLadderRungs(r.Context(), c.ID, *in.Rungs, h.Ladder.Rungs); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	mode, rungs, err := h.Service.LadderSetting(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, h.ladderJSON(mode, rungs))
}

// chosenRungs is the offered rungs' names a choice keeps, in the
// platform's order; an empty choice (or one the platform no longer
// offers any of) keeps them all, as the media hub does.
func chosenRungs(offered []LadderRung, choice []string) []string {
	want := map[string]bool{}
	for _, n := range choice {
		want[n] = true
	}
	var all, kept []string
	for _, r := range offered {
		all = append(all, r.Name)
		if want[r.Name] {
			kept = append(kept, r.Name)
		}
	}
	if len(kept) == 0 {
		kept = all
	}
	if kept == nil {
		kept = []string{}
	}
	return kept
}
