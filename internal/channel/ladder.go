package channel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"

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

// LadderPlatform is what the platform says about the ladder: its default
// (--ladder), whether a ladder can run at all (ffmpeg is installed) and
// whether channels may choose (--ladder-channels).
type LadderPlatform struct {
	Default bool
	FFmpeg  bool
	Choice  bool
}

// LadderMode is a channel's ladder mode (LadderDefault when it never chose).
func (s *Service) LadderMode(ctx context.Context, channelID int64) (string, error) {
	var mode string
	err := s.db.QueryRowContext(ctx, `SELECT mode FROM channel_ladder WHERE channel_id = $1`, channelID).Scan(&mode)
	if errors.Is(err, sql.ErrNoRows) {
		return LadderDefault, nil
	}
	if err != nil {
		return "", fmt.Errorf("read ladder mode of channel %d: %w", channelID, err)
	}
	return mode, nil
}

// SetLadderMode stores a channel's ladder mode; LadderDefault removes its
// choice.
func (s *Service) SetLadderMode(ctx context.Context, channelID int64, mode string) error {
	var err error
	switch mode {
	case LadderDefault:
		_, err = s.db.ExecContext(ctx, `DELETE FROM channel_ladder WHERE channel_id = $1`, channelID)
	case LadderOn, LadderOff:
		_, err = s.db.ExecContext(ctx, `INSERT INTO channel_ladder (channel_id, mode) VALUES ($1, $2)
			ON CONFLICT (channel_id) DO UPDATE SET mode = excluded.mode`, channelID, mode)
	default:
		return ErrBadLadderMode
	}
	if err != nil {
		return fmt.Errorf("save ladder mode of channel %d: %w", channelID, err)
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
func (s *Service) LadderFor(ctx context.Context, channelID int64, platform bool) (bool, error) {
	mode, err := s.LadderMode(ctx, channelID)
	if err != nil {
		return platform, err
	}
	return LadderEffective(mode, platform), nil
}

type ladderJSON struct {
	Mode      string `json:"mode"`
	Effective bool   `json:"effective"` // the next stream gets the ladder (when it can run)
	Platform  bool   `json:"platform"`  // the platform's default
	Available bool   `json:"available"` // the channel's choice counts: ffmpeg is installed and channels may choose
	// Reason says why not available: "no_ffmpeg" or "platform_only".
	Reason string `json:"reason,omitempty"`
}

func (h *Handlers) ladderJSON(mode string) ladderJSON {
	p := h.Ladder
	out := ladderJSON{Mode: mode, Effective: p.Default, Platform: p.Default, Available: p.FFmpeg && p.Choice}
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
	mode, err := h.Service.LadderMode(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, h.ladderJSON(mode))
}

func (h *Handlers) putLadder(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Mode string `json:"mode"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := h.Service.SetLadderMode(r.Context(), c.ID, in.Mode); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, h.ladderJSON(in.Mode))
}
