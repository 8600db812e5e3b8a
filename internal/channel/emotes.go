package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // emote uploads
	_ "image/png" // emote uploads
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	_ "golang.org/x/image/webp" // emote uploads

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
)

// Channel emotes: small images an owner uploads; ":name:" in chat and
// danmaku shows the image on the page while the message stays text.
const (
	MaxEmotes     = 50
	MaxEmoteBytes = 64 << 10
	MaxEmoteSide  = 128
)

// EmoteNamePattern is what an emote may be called: ":name:" in text.
var EmoteNamePattern = regexp.MustCompile(`^[A-Za-z0-9_]{2,24}$`)

var emoteTypes = map[string]string{"png": "image/png", "gif": "image/gif", "webp": "image/webp"}

var errEmoteNotFound = httpjson.NewProblem(http.StatusNotFound, "emote_not_found", "no such emote")

// Emote is one of a channel's emotes as clients see it.
type Emote struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// emoteImage is a checked upload.
type emoteImage struct {
	contentType   string
	width, height int
}

// checkEmoteImage sniffs an upload: a PNG, GIF or WebP (by its bytes, not
// its name or declared type) of at most MaxEmoteBytes and MaxEmoteSide
// pixels a side, whose first frame decodes. The header is read before any
// pixel, so a huge declared size is refused without decoding it.
func checkEmoteImage(data []byte) (emoteImage, error) {
	if len(data) > MaxEmoteBytes {
		return emoteImage{}, &httpjson.Problem{Status: http.StatusRequestEntityTooLarge, Code: "emote_too_large",
			Message: fmt.Sprintf("an emote is at most %d KiB", MaxEmoteBytes>>10)}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	ct, ok := emoteTypes[format]
	if err != nil || !ok {
		return emoteImage{}, httpjson.BadRequest("emote_bad_image", "an emote must be a PNG, GIF or WebP image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxEmoteSide || cfg.Height > MaxEmoteSide {
		return emoteImage{}, httpjson.BadRequest("emote_bad_size", "an emote is at most %d×%d pixels; this one is %d×%d", MaxEmoteSide, MaxEmoteSide, cfg.Width, cfg.Height)
	}
	if _, _, err := image.Decode(bytes.NewReader(data)); err != nil {
		return emoteImage{}, httpjson.BadRequest("emote_bad_image", "the image could not be read")
	}
	return emoteImage{contentType: ct, width: cfg.Width, height: cfg.Height}, nil
}

func emoteURL(channelID int64, name, sha string) string {
	return "/emotes/" + strconv.FormatInt(channelID, 10) + "/" + name + "?v=" + sha[:12]
}

// Emotes lists a channel's emotes by name.
func (s *Service) Emotes(ctx context.Context, channelID int64) ([]Emote, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, sha, width, height FROM channel_emotes WHERE channel_id = $1 ORDER BY name`, channelID)
	if err != nil {
		return nil, fmt.Errorf("list emotes of channel %d: %w", channelID, err)
	}
	defer rows.Close()
	out := []Emote{}
	for rows.Next() {
		var e Emote
		var sha string
		if err := rows.Scan(&e.Name, &sha, &e.Width, &e.Height); err != nil {
			return nil, fmt.Errorf("list emotes of channel %d: %w", channelID, err)
		}
		e.URL = emoteURL(channelID, e.Name, sha)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddEmote stores a checked image under name.
func (s *Service) AddEmote(ctx context.Context, channelID int64, name string, data []byte) (Emote, error) {
	if !EmoteNamePattern.MatchString(name) {
		return Emote{}, httpjson.BadRequest("emote_name_invalid", "an emote name is 2 to 24 letters, digits or '_'")
	}
	img, err := checkEmoteImage(data)
	if err != nil {
		return Emote{}, err
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	var id int64
	err = s.db.QueryRowContext(ctx, `INSERT INTO channel_emotes (channel_id, name, content_type, data, sha, width, height, created_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE (SELECT COUNT(*) FROM channel_emotes WHERE channel_id = $1) < $9 RETURNING id`,
		channelID, name, img.contentType, data, sha, img.width, img.height, store.Now(), MaxEmotes).Scan(&id)
	if store.IsUniqueViolation(err) {
		return Emote{}, httpjson.NewProblem(http.StatusConflict, "emote_name_taken", "this channel already has an emote called "+name)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Emote{}, httpjson.NewProblem(http.StatusConflict, "emotes_full", fmt.Sprintf("a channel has at most %d emotes; delete one first", MaxEmotes))
	}
	if err != nil {
		return Emote{}, fmt.Errorf("add emote %q: %w", name, err)
	}
	return Emote{Name: name, URL: emoteURL(channelID, name, sha), Width: img.width, Height: img.height}, nil
}

// DeleteEmote removes a channel's emote.
func (s *Service) DeleteEmote(ctx context.Context, channelID int64, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM channel_emotes WHERE channel_id = $1 AND name = $2`, channelID, name)
	if err != nil {
		return fmt.Errorf("delete emote %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errEmoteNotFound
	}
	return nil
}

// EmoteImage returns an emote's bytes, type and hash.
func (s *Service) EmoteImage(ctx context.Context, channelID int64, name string) (data []byte, contentType, sha string, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT data, content_type, sha FROM channel_emotes WHERE channel_id = $1 AND name = $2`, channelID, name).
		Scan(&data, &contentType, &sha)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", "", errEmoteNotFound
	}
	if err != nil {
		return nil, "", "", fmt.Errorf("read emote %q: %w", name, err)
	}
	return data, contentType, sha, nil
}

func (h *Handlers) listEmotes(w http.ResponseWriter, r *http.Request) {
	c, err := h.Service.Get(r.Context(), r.PathValue("slug"))
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	list, err := h.Service.Emotes(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	httpjson.Write(w, http.StatusOK, map[string]any{"emotes": list, "max": MaxEmotes})
}

// multipartSlack is what a multipart body may carry besides the image
// (boundaries, headers, the name field).
const multipartSlack = 8 << 10

// postEmote takes a multipart form: "name" and "file".
func (h *Handlers) postEmote(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	tooLarge := &httpjson.Problem{Status: http.StatusRequestEntityTooLarge, Code: "emote_too_large",
		Message: fmt.Sprintf("an emote is at most %d KiB", MaxEmoteBytes>>10)}
	if r.ContentLength > MaxEmoteBytes+multipartSlack {
		httpjson.Fail(w, tooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxEmoteBytes+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the emote as multipart/form-data with fields name and file"))
		return
	}
	name, data, err := readEmoteForm(mr)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = tooLarge
		}
		httpjson.Fail(w, err)
		return
	}
	e, err := h.Service.AddEmote(r.Context(), c.ID, name, data)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	h.changed(c.ID)
	httpjson.Write(w, http.StatusCreated, e)
}

// readEmoteForm reads the name and file parts, at most MaxEmoteBytes+1 of
// the file (one more tells a too large one).
func readEmoteForm(mr *multipart.Reader) (name string, data []byte, err error) {
	gotFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return "", nil, err
			}
			return "", nil, httpjson.BadRequest("", "the form could not be read")
		}
		switch p.FormName() {
		case "name":
			b, err := io.ReadAll(io.LimitReader(p, 256))
			if err != nil {
				return "", nil, err
			}
			name = strings.TrimSpace(string(b))
		case "file":
			data, err = io.ReadAll(io.LimitReader(p, MaxEmoteBytes+1))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return "", nil, err
				}
				return "", nil, httpjson.BadRequest("", "the form could not be read")
			}
			gotFile = true
		}
		p.Close()
	}
	if !gotFile {
		return "", nil, httpjson.BadRequest("emote_bad_image", "the form has no file")
	}
	return name, data, nil
}

func (h *Handlers) deleteEmote(w http.ResponseWriter, r *http.Request) {
	c, err := h.manageable(r)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := h.Service.DeleteEmote(r.Context(), c.ID, r.PathValue("name")); err != nil {
		httpjson.Fail(w, err)
		return
	}
	h.changed(c.ID)
	httpjson.Write(w, http.StatusOK, map[string]bool{"deleted": true})
}

// serveEmote answers GET /emotes/{channel}/{name}: the image with its own
// type, never sniffed, never a document. A URL with the current version
// (?v=, from the list) is cached for good.
func (h *Handlers) serveEmote(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("channel"), 10, 64)
	name := r.PathValue("name")
	if err != nil || !EmoteNamePattern.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	data, ct, sha, err := h.Service.EmoteImage(r.Context(), id, name)
	if errors.Is(err, errEmoteNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if _, ok := emoteTypes[strings.TrimPrefix(ct, "image/")]; !ok { // never anything but the three image types
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	etag := `"` + sha[:32] + `"`
	hd.Set("ETag", etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if r.URL.Query().Get("v") == sha[:12] {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "public, max-age=60")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}
