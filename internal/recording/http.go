package recording

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/room"
)

// Routes registers the replay API and the VOD files.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels/{slug}/replays", s.listHTTP)
	mux.HandleFunc("GET /api/channels/{slug}/recording", s.settingHTTP)
	mux.HandleFunc("PUT /api/channels/{slug}/recording", s.setSettingHTTP)
	mux.HandleFunc("GET /api/replays/{id}", s.getHTTP)
	mux.HandleFunc("PATCH /api/replays/{id}", s.patchHTTP)
	mux.HandleFunc("DELETE /api/replays/{id}", s.deleteHTTP)
	mux.HandleFunc("GET /api/replays/{id}/danmaku", s.danmakuHTTP)
	mux.HandleFunc("POST /api/channels/{slug}/chapters", s.markHTTP)
	mux.HandleFunc("POST /api/replays/{id}/chapters", s.addChapterHTTP)
	mux.HandleFunc("DELETE /api/replays/{id}/chapters/{chapter}", s.deleteChapterHTTP)
	mux.HandleFunc("POST /api/replays/{id}/clip", s.clipHTTP)
	mux.HandleFunc("GET /vod/{id}/{file}", s.vodHTTP)
}

// canManage reports whether the caller may manage the channel (its owner,
// a platform admin).
func (s *Service) canManage(r *http.Request, c channel.Channel) bool {
	_, err := s.d.Accounts.Authorize(r, policy.ActChannelManage, c.ID, c.OwnerID)
	return err == nil
}

func (s *Service) listHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.d.Channels.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	manage := s.canManage(r, c)
	list, err := s.List(r.Context(), c.ID, manage, 200)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, map[string]any{"replays": list, "can_manage": manage})
}

func (s *Service) settingHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.managed(r, r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	on, err := s.Enabled(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"enabled": on})
}

func (s *Service) setSettingHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.managed(r, r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Enabled == nil {
		httpjson.Fail(w, httpjson.BadRequest("", "enabled is required"))
		return
	}
	if err := s.SetEnabled(r.Context(), c.ID, *in.Enabled); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"enabled": *in.Enabled})
}

func (s *Service) managed(r *http.Request, slug string) (channel.Channel, error) {
	c, err := s.d.Channels.Get(r.Context(), slug)
	if err != nil {
		return c, err
	}
	if _, err := s.d.Accounts.Authorize(r, policy.ActChannelManage, c.ID, c.OwnerID); err != nil {
		return c, err
	}
	return c, nil
}

// visible reads the replay in the path for the caller: a hidden replay is
// not found except for whoever manages its channel.
func (s *Service) visible(r *http.Request) (Replay, bool, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return Replay{}, false, ErrNotFound
	}
	rep, err := s.Get(r.Context(), id)
	if err != nil {
		return rep, false, err
	}
	c, err := s.d.Channels.Get(r.Context(), rep.Channel)
	if errors.Is(err, channel.ErrNotFound) {
		return rep, false, ErrNotFound
	}
	if err != nil {
		return rep, false, err
	}
	manage := s.canManage(r, c)
	if rep.Hidden && !manage {
		return rep, false, ErrNotFound
	}
	return rep, manage, nil
}

// playable reads the replay in the path for whoever may play it: as
// visible, and a members-only replay only for members.
func (s *Service) playable(r *http.Request) (Replay, bool, error) {
	rep, manage, err := s.visible(r)
	if err != nil || !rep.MembersOnly || manage {
		return rep, manage, err
	}
	p := policy.PrincipalFrom(r.Context())
	if p.User == nil || s.d.Fans == nil {
		return rep, false, ErrMembersOnly
	}
	fan, err := s.d.Fans.Standing(r.Context(), p.User.ID, rep.ChannelID, rep.Channel)
	if err != nil {
		return rep, false, err
	}
	if fan.MemberTier <= 0 {
		return rep, false, ErrMembersOnly
	}
	return rep, false, nil
}

func (s *Service) getHTTP(w http.ResponseWriter, r *http.Request) {
	rep, manage, err := s.visible(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	chapters, err := s.Chapters(r.Context(), rep.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	_, _, perr := s.playable(r)
	var p *httpjson.Problem
	if perr != nil && !(errors.As(perr, &p) && p.Code == ErrMembersOnly.Code) {
		httpjson.Fail(w, perr)
		return
	}
	out := map[string]any{"replay": rep, "can_manage": manage, "chapters": chapters, "playable": perr == nil,
		"playlist": "/vod/" + strconv.FormatInt(rep.ID, 10) + "/index.m3u8"}
	if th := s.thumbnailsOf(rep); th != nil {
		out["thumbnails"] = th
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, out)
}

// MaxTitle is the longest replay title, in characters.
const MaxTitle = 100

func (s *Service) patchHTTP(w http.ResponseWriter, r *http.Request) {
	rep, manage, err := s.visible(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if !manage {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusForbidden, "", "only the channel's owner may change its replays"))
		return
	}
	var in struct {
		Title       *string `json:"title"`
		Hidden      *bool   `json:"hidden"`
		MembersOnly *bool   `json:"members_only"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		if utf8.RuneCountInString(t) > MaxTitle || strings.ContainsAny(t, "\x00\r\n") {
			httpjson.Fail(w, ErrTitleInvalid)
			return
		}
		in.Title = &t
	}
	if err := s.Update(r.Context(), rep.ID, in.Title, in.Hidden, in.MembersOnly); err != nil {
		httpjson.Fail(w, err)
		return
	}
	rep, err = s.Get(r.Context(), rep.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"replay": rep})
}

func (s *Service) deleteHTTP(w http.ResponseWriter, r *http.Request) {
	rep, manage, err := s.visible(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if !manage {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusForbidden, "", "only the channel's owner may delete its replays"))
		return
	}
	if err := s.Delete(r.Context(), rep); err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// MaxReplayDanmaku is how many room-log messages a replay replays.
const MaxReplayDanmaku = 20000

// ReplayMessage is a room-log message with its time in the replay.
type ReplayMessage struct {
	room.Message
	T int64 `json:"t"` // ms into the replay
}

func (s *Service) danmakuHTTP(w http.ResponseWriter, r *http.Request) {
	rep, _, err := s.playable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	msgs, err := s.Danmaku(r.Context(), rep)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"messages": msgs})
}

// Danmaku are the messages the room said during the replay, each at its
// time into the replay (its wall-clock time less the replay's start).
func (s *Service) Danmaku(ctx context.Context, rep Replay) ([]ReplayMessage, error) {
	end := rep.StartedAt + rep.DurationMS
	if rep.State == StateRecording {
		end = 1<<62 - 1
	}
	msgs, err := s.d.Messages.Between(ctx, rep.ChannelID, rep.StartedAt, end+1, MaxReplayDanmaku)
	if err != nil {
		return nil, err
	}
	out := make([]ReplayMessage, 0, len(msgs))
	for _, m := range msgs {
		m.Room = rep.Channel
		out = append(out, ReplayMessage{Message: m, T: m.At - rep.StartedAt})
	}
	return out, nil
}

var segFile = regexp.MustCompile(`^seg[0-9]{5}\.m4s$`)

func (s *Service) vodHTTP(w http.ResponseWriter, r *http.Request) {
	rep, _, err := s.playable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	dir := s.dir(rep)
	if rep.path != "" && rep.node != s.d.Node && rep.node != 0 && s.d.Remote != nil {
		// Recordings live on the node that ingested them: that node answers.
		s.d.Remote(w, r, rep.node)
		return
	}
	if rep.path == "" || rep.node != s.d.Node {
		httpjson.Fail(w, ErrNotFound)
		return
	}
	switch file := r.PathValue("file"); {
	case file == "index.m3u8":
		final := rep.State == StateReady
		cached := filepath.Join(dir, "index.m3u8")
		if final {
			if b, err := os.ReadFile(cached); err == nil {
				w.Header().Set("Cache-Control", "private, max-age=60")
				w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
				_, _ = w.Write(b)
				return
			}
		}
		segs, err := scan(dir, false, &s.scans)
		if errors.Is(err, os.ErrNotExist) {
			httpjson.Fail(w, ErrNotFound)
			return
		}
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		pl := Playlist(segs, final)
		if final {
			// A finished recording's playlist never changes: keep it
			// rather than reading every segment again.
			if err := writeSynced(cached, []byte(pl)); err != nil {
				s.d.Log.Warn("recording: keep playlist", "replay", rep.ID, "err", err)
			}
			w.Header().Set("Cache-Control", "private, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		_, _ = w.Write([]byte(pl))
	case file == initName || file == spriteName || segFile.MatchString(file):
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			httpjson.Fail(w, ErrNotFound)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		if file == spriteName {
			w.Header().Set("Content-Type", "image/jpeg")
		} else {
			w.Header().Set("Content-Type", "video/mp4")
		}
		if rep.State == StateReady {
			w.Header().Set("Cache-Control", "private, max-age=86400") // private: members-only replays
		}
		http.ServeContent(w, r, "", fi.ModTime(), f)
	default:
		httpjson.Fail(w, ErrNotFound)
	}
}
