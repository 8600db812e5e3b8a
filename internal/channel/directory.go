package channel

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg" // cover uploads
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
)

// The directory: how viewers find channels (live first, followed first,
// search by title, tag and streamer name, categories), channel covers and
// recent frames, and the platform's switches over a channel (disable,
// transfer to another owner).

// Search lists enabled channels whose title, slug, tags or category
// contain q (case-insensitive), or that belong to owners, in category if
// given; at most limit.
func (s *Service) Search(ctx context.Context, q, category string, owners []int64, limit int) ([]Channel, error) {
	var where []string
	args := []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where = append(where, "disabled_at IS NULL")
	if q = strings.ToLower(strings.TrimSpace(q)); q != "" {
		like := arg("%" + escapeLike(q) + "%")
		cond := []string{
			"LOWER(title) LIKE " + like + ` ESCAPE '\'`, "LOWER(slug) LIKE " + like + ` ESCAPE '\'`,
			s.tagLike(like), "LOWER(category) LIKE " + like + ` ESCAPE '\'`,
		}
		for _, id := range owners {
			cond = append(cond, "owner_id = "+arg(id))
		}
		where = append(where, "("+strings.Join(cond, " OR ")+")")
	}
	if category != "" {
		where = append(where, "category = "+arg(category))
	}
	return s.queryChannels(ctx, `WHERE `+strings.Join(where, " AND ")+` ORDER BY updated_at DESC LIMIT `+arg(limit), args...)
}

// tagLike is the condition "one of the channel's tags is LIKE pattern".
// Tags are stored as a JSON array; matching that text would let `"` or
// `","` match every tagged channel, so each engine unpacks the array and
// matches the values (stored lower-case).
func (s *Service) tagLike(pattern string) string {
	if s.db.Dialect == store.Postgres {
		return `EXISTS (SELECT 1 FROM json_array_elements_text(channels.tags::json) AS tag(value) WHERE tag.value LIKE ` + pattern + ` ESCAPE '\')`
	}
	return `EXISTS (SELECT 1 FROM json_each(channels.tags) AS tag WHERE tag.value LIKE ` + pattern + ` ESCAPE '\')`
}

// queryChannels reads the channels a WHERE/ORDER clause selects.
func (s *Service) queryChannels(ctx context.Context, clause string, args ...any) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels `+clause, args...)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		c, err := scanChannel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ByOwner lists an account's channels.
func (s *Service) ByOwner(ctx context.Context, ownerID int64) ([]Channel, error) {
	return s.queryChannels(ctx, `WHERE owner_id = $1 ORDER BY slug`, ownerID)
}

// SetDisabled switches a channel off (or back on).
func (s *Service) SetDisabled(ctx context.Context, slug string, disabled bool) error {
	var v any
	if disabled {
		v = store.Now()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE channels SET disabled_at = $1 WHERE slug = $2`, v, slug)
	if err != nil {
		return fmt.Errorf("disable channel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Transfer gives a channel to another account.
func (s *Service) Transfer(ctx context.Context, slug string, ownerID int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE channels SET owner_id = $1, updated_at = $2 WHERE slug = $3`, ownerID, store.Now(), slug)
	if err != nil {
		return fmt.Errorf("transfer channel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Covers live in the data directory as covers/ID, recent frames as
// frames/SLUG.jpg (media.FrameGrabber).

// MaxCoverBytes bounds a cover upload.
const MaxCoverBytes = 2 << 20

func (h *Handlers) coverPath(c Channel) string {
	return filepath.Join(h.Files, "covers", strconv.FormatInt(c.ID, 10))
}

// putCover stores a JPEG or PNG cover (at most 2 MiB and 4096×4096).
func (h *Handlers) putCover(w http.ResponseWriter, r *http.Request) {
	if !h.authorizeManage(w, r) {
		return
	}
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCoverBytes))
	if err != nil {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "a cover must be at most 2 MiB")
		return
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || (format != "jpeg" && format != "png") {
		httpjson.Error(w, http.StatusBadRequest, "a cover must be a JPEG or PNG image")
		return
	}
	if cfg.Width < 16 || cfg.Height < 16 || cfg.Width > 4096 || cfg.Height > 4096 {
		httpjson.Error(w, http.StatusBadRequest, "a cover must be 16 to 4096 pixels on each side")
		return
	}
	if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "the image could not be read: "+err.Error())
		return
	}
	path := h.coverPath(c)
	if err := writeFileAtomic(path, body); err != nil {
		httpjson.Fail(w, err)
		return
	}
	now := store.Now()
	if _, err := h.Service.db.ExecContext(r.Context(), `UPDATE channels SET cover_at = $1 WHERE id = $2`, now, c.ID); err != nil {
		httpjson.Fail(w, err)
		return
	}
	c.CoverAt = now
	httpjson.Write(w, http.StatusOK, map[string]string{"cover_url": coverURL(c)})
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func coverURL(c Channel) string {
	if c.CoverAt == 0 {
		return ""
	}
	return "/covers/" + c.Slug + "?v=" + strconv.FormatInt(c.CoverAt, 36)
}

// serveCover answers GET /covers/{slug}.
func (h *Handlers) serveCover(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil || c.CoverAt == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFile(w, r, h.coverPath(c))
}

// serveFrame answers GET /frames/{slug}.jpg: the recent frame of a live stream.
func (h *Handlers) serveFrame(w http.ResponseWriter, r *http.Request) {
	slug := strings.TrimSuffix(r.PathValue("file"), ".jpg")
	if _, live := h.Live.Stream(slug); !live || h.Files == "" || strings.ContainsAny(slug, `/\.`) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFile(w, r, media.FramePath(h.Files, slug))
}

// picture is what the directory shows for a channel: a recent frame when
// live and one exists, else the cover, else nothing.
func (h *Handlers) picture(c Channel, live bool) string {
	if live && h.Files != "" {
		if fi, err := os.Stat(media.FramePath(h.Files, c.Slug)); err == nil {
			return "/frames/" + c.Slug + ".jpg?v=" + strconv.FormatInt(fi.ModTime().Unix(), 36)
		}
	}
	return coverURL(c)
}

// directoryEntry is one channel on the home page.
type directoryEntry struct {
	Slug     string     `json:"slug"`
	Title    string     `json:"title"`
	Category string     `json:"category"`
	Tags     []string   `json:"tags"`
	Streamer string     `json:"streamer,omitempty"`
	Live     bool       `json:"live"`
	Viewers  int        `json:"viewers"`
	Since    *time.Time `json:"live_since,omitempty"`
	Picture  string     `json:"picture,omitempty"`
	Followed bool       `json:"followed"`
	// NextStream is the next scheduled stream of a channel that is not live.
	NextStream *ScheduleEntry `json:"next_stream,omitempty"`
}

// directory answers GET /api/directory?q=&category=: live channels first
// (followed ones first, then by viewers), then the others; and the
// categories with how many channels are live in each.
func (h *Handlers) directory(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	text, category := strings.TrimSpace(q.Get("q")), strings.TrimSpace(q.Get("category"))
	if len(text) > 100 || len(category) > 100 {
		httpjson.Error(w, http.StatusBadRequest, "q and category must be at most 100 characters")
		return
	}
	var owners []int64
	if text != "" && h.Users != nil {
		var err error
		if owners, err = h.Users.IDsByNamePrefix(ctx, text, 20); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	chans, err := h.Service.Search(ctx, text, category, owners, 200)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	followed := map[int64]bool{}
	if p := policy.PrincipalFrom(ctx); p.User != nil && h.Follows != nil {
		ids, err := h.Follows.FollowedChannels(ctx, p.User.ID)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		for _, id := range ids {
			followed[id] = true
		}
	}
	names := map[int64]string{}
	if h.Users != nil {
		ids := make([]int64, 0, len(chans))
		for _, c := range chans {
			ids = append(ids, c.OwnerID)
		}
		if names, err = h.Users.Usernames(ctx, ids); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	ids := make([]int64, 0, len(chans))
	for _, c := range chans {
		ids = append(ids, c.ID)
	}
	nexts, err := h.Service.NextStreams(ctx, ids, time.Now())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	entries := make([]directoryEntry, 0, len(chans))
	for _, c := range chans {
		e := directoryEntry{Slug: c.Slug, Title: c.Title, Category: c.Category, Tags: c.Tags, Streamer: names[c.OwnerID], Followed: followed[c.ID]}
		ls := h.liveState(c.Slug)
		if ls.Live {
			e.Live, e.Since, e.Viewers = true, ls.StartedAt, ls.Viewers
		}
		if next, ok := nexts[c.ID]; ok && !ls.Live {
			e.NextStream = &next
		}
		// Recent frames are grabbed by the node that ingests the stream.
		e.Picture = h.picture(c, ls.Here)
		entries = append(entries, e)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if a.Live != b.Live {
			return a.Live
		}
		if a.Followed != b.Followed {
			return a.Followed
		}
		return a.Viewers > b.Viewers
	})
	cats, err := h.categories(ctx)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"channels": entries, "categories": cats})
}

type categoryCount struct {
	Name     string `json:"name"`
	Channels int    `json:"channels"`
	Live     int    `json:"live"`
}

func (h *Handlers) categories(ctx context.Context) ([]categoryCount, error) {
	rows, err := h.Service.db.QueryContext(ctx, `SELECT category, slug FROM channels WHERE disabled_at IS NULL AND category <> ''`)
	if err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	defer rows.Close()
	by := map[string]*categoryCount{}
	for rows.Next() {
		var cat, slug string
		if err := rows.Scan(&cat, &slug); err != nil {
			return nil, err
		}
		c := by[cat]
		if c == nil {
			c = &categoryCount{Name: cat}
			by[cat] = c
		}
		c.Channels++
		if _, live := h.Live.Lookup(slug); live {
			c.Live++
		}
	}
	out := make([]categoryCount, 0, len(by))
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Live != out[j].Live {
			return out[i].Live > out[j].Live
		}
		return out[i].Name < out[j].Name
	})
	return out, rows.Err()
}

// adminChannel answers POST /api/admin/channels/{slug}: {"disabled": bool}
// and/or {"owner": "username"}.
func (h *Handlers) adminChannel(w http.ResponseWriter, r *http.Request) {
	if _, err := h.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	var in struct {
		Disabled *bool   `json:"disabled"`
		Owner    *string `json:"owner"`
	}
	if !httpjson.Read(w, r, &in) {
		return
	}
	slug := r.PathValue("slug")
	if in.Owner != nil {
		u, err := h.Users.ByName(r.Context(), *in.Owner)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		if err := h.Service.Transfer(r.Context(), slug, u.ID); err != nil {
			httpjson.Fail(w, err)
			return
		}
	}
	if in.Disabled != nil {
		if err := h.Service.SetDisabled(r.Context(), slug, *in.Disabled); err != nil {
			httpjson.Fail(w, err)
			return
		}
		// A live stream of a disabled channel ends now, wherever it is
		// ingested; the key is refused everywhere, so it cannot come back.
		if *in.Disabled {
			if h.Kick != nil {
				h.Kick(slug)
			} else {
				h.Live.Kick(slug)
			}
		}
	}
	c, err := h.Service.Get(r.Context(), slug)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	h.changed(c.ID)
	httpjson.Write(w, http.StatusOK, h.adminJSON(r.Context(), c))
}

type adminChannelJSON struct {
	channelJSON
	Owner    string `json:"owner,omitempty"`
	Disabled bool   `json:"disabled"`
}

func (h *Handlers) adminJSON(ctx context.Context, c Channel) adminChannelJSON {
	out := adminChannelJSON{channelJSON: h.toJSON(c), Disabled: c.Disabled}
	if h.Users != nil && c.OwnerID != 0 {
		if names, err := h.Users.Usernames(ctx, []int64{c.OwnerID}); err == nil {
			out.Owner = names[c.OwnerID]
		}
	}
	return out
}

// adminChannels answers GET /api/admin/channels?q=: every channel,
// disabled ones included.
func (h *Handlers) adminChannels(w http.ResponseWriter, r *http.Request) {
	if _, err := h.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	chans, err := h.Service.queryChannels(r.Context(), `WHERE $1 = '' OR LOWER(slug) LIKE $2 ESCAPE '\' OR LOWER(title) LIKE $2 ESCAPE '\'
		ORDER BY slug LIMIT 200`, q, "%"+escapeLike(q)+"%")
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := make([]adminChannelJSON, 0, len(chans))
	for _, c := range chans {
		out = append(out, h.adminJSON(r.Context(), c))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"channels": out})
}
