package channel

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/policy"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
)

// testAccounts lets the user named in X-Test-User act; owners (and user 1,
// the admin) may manage their channels.
type testAccounts struct{}

func (testAccounts) Authorize(r *http.Request, a policy.Action, channelID, ownerID int64) (policy.Principal, error) {
	id, _ := strconv.ParseInt(r.Header.Get("X-Test-User"), 10, 64)
	if id == 0 {
		return policy.Principal{}, &policy.Denied{Reason: "log in", Anonymous: true}
	}
	if a == policy.ActChannelManage && id != ownerID && id != 1 {
		return policy.Principal{}, &policy.Denied{Reason: "not your channel"}
	}
	return policy.Principal{User: &policy.User{ID: id}, Via: "session"}, nil
}
func (testAccounts) ThrottleBrowsing(next http.HandlerFunc) http.HandlerFunc  { return next }
func (testAccounts) GuardChannelReads(next http.HandlerFunc) http.HandlerFunc { return next }

type noLive struct{}

func (noLive) Lookup(string) (live.State, bool)    { return live.State{}, false }
func (noLive) Stream(string) (*media.Stream, bool) { return nil, false }
func (noLive) Kick(string) bool                    { return false }

// testServer is the channel routes on db, with channel "emo" owned by user 7.
func testServer(t *testing.T, db *store.DB) (*httptest.Server, Channel) {
	t.Helper()
	svc := NewService(db)
	c, _, err := svc.Create(context.Background(), Input{Slug: ptr("emo"), Title: ptr("Emotes")}, 7)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := New(Deps{Service: svc, Live: noLive{}, Accounts: testAccounts{}})
	mux := http.NewServeMux()
	h.Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, c
}

func pngOf(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func gifOf(w, h int) []byte {
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	var b bytes.Buffer
	_ = gif.Encode(&b, img, nil)
	return b.Bytes()
}

// bombPNG is a valid PNG header claiming 5000×5000 pixels, with a tiny body.
func bombPNG() []byte {
	b := pngOf(16, 16)
	// IHDR (type at 12..16, width and height at 16..24, CRC at 29..33).
	copy(b[16:], []byte{0, 0, 0x13, 0x88, 0, 0, 0x13, 0x88})
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// A minimal lossless WebP, 1×1 (from the WebP test suite's smallest files).
var webp1x1 = []byte{
	0x52, 0x49, 0x46, 0x46, 0x1a, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x4c,
	0x0d, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe,
	0x07, 0x00,
}

func upload(t *testing.T, srv *httptest.Server, user, name, filename string, data []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", name)
	fw, _ := mw.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/channels/emo/emotes", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestEmotesUploadServeAndRefuse: an owner uploads PNG, GIF and WebP emotes
// that are served with their own type, nosniff and an immutable versioned
// URL; hostile or oversized uploads, bad names, a 51st emote and other
// users are refused with codes.
func TestEmotesUploadServeAndRefuse(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		srv, c := testServer(t, db)
		for _, up := range []struct {
			name, file string
			data       []byte
		}{
			{"pog", "pog.png", pngOf(32, 32)},
			{"Wave_2", "wave.gif", gifOf(64, 48)},
			{"tiny", "t.webp", webp1x1},
			{"max_side", "m.png", pngOf(128, 128)},
		} {
			if st, out := upload(t, srv, "7", up.name, up.file, up.data); st != 201 || out["name"] != up.name {
				t.Fatalf("upload %s: %d %v", up.name, st, out)
			}
		}
		refused := []struct {
			user, name, file string
			data             []byte
			status           int
			code             string
		}{
			{"7", "svg", "x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), 400, "emote_bad_image"},
			{"7", "html", "x.png", []byte(`<html><script>alert(1)</script></html>`), 400, "emote_bad_image"},
			{"7", "bomb", "bomb.png", bombPNG(), 400, "emote_bad_size"},
			{"7", "big", "big.png", pngOf(129, 16), 400, "emote_bad_size"},
			{"7", "heavy", "heavy.png", append(pngOf(16, 16), make([]byte, MaxEmoteBytes)...), 413, "emote_too_large"},
			{"7", "huge", "huge.png", make([]byte, 1<<20), 413, "emote_too_large"},
			{"7", "truncated", "t.png", pngOf(64, 64)[:200], 400, "emote_bad_image"},
			{"7", "x", "x.png", pngOf(16, 16), 400, "emote_name_invalid"},
			{"7", "has space", "x.png", pngOf(16, 16), 400, "emote_name_invalid"},
			{"7", "<img>", "x.png", pngOf(16, 16), 400, "emote_name_invalid"},
			{"7", strings.Repeat("a", 25), "x.png", pngOf(16, 16), 400, "emote_name_invalid"},
			{"7", "pog", "x.png", pngOf(16, 16), 409, "emote_name_taken"},
			{"8", "other", "x.png", pngOf(16, 16), 403, "forbidden"},
			{"", "anon", "x.png", pngOf(16, 16), 401, ""},
		}
		for _, r := range refused {
			st, out := upload(t, srv, r.user, r.name, r.file, r.data)
			if st != r.status || (r.code != "" && out["code"] != r.code) || out["error"] == nil {
				t.Errorf("%s: %d %v; want %d %s", r.name, st, out, r.status, r.code)
			}
		}

		// The list and the image.
		res, err := http.Get(srv.URL + "/api/channels/emo/emotes")
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Emotes []Emote }
		_ = json.NewDecoder(res.Body).Decode(&list)
		res.Body.Close()
		if len(list.Emotes) != 4 || list.Emotes[0].Name != "Wave_2" {
			t.Fatalf("list %+v", list.Emotes)
		}
		types := map[string]string{"pog": "image/png", "Wave_2": "image/gif", "tiny": "image/webp", "max_side": "image/png"}
		for _, e := range list.Emotes {
			if !strings.HasPrefix(e.URL, fmt.Sprintf("/emotes/%d/%s?v=", c.ID, e.Name)) {
				t.Fatalf("url %s", e.URL)
			}
			res, err := http.Get(srv.URL + e.URL)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			h := res.Header
			if res.StatusCode != 200 || h.Get("Content-Type") != types[e.Name] || h.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("ETag") == "" {
				t.Fatalf("%s: %d %v", e.Name, res.StatusCode, h)
			}
			req, _ := http.NewRequest("GET", srv.URL+e.URL, nil)
			req.Header.Set("If-None-Match", h.Get("ETag"))
			if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 304 {
				t.Fatalf("revalidation: %v %v", res, err)
			} else {
				res.Body.Close()
			}
		}
		// An old version is not cached for good; unknown names are 404.
		if res, _ := http.Get(fmt.Sprintf("%s/emotes/%d/pog?v=000000000000", srv.URL, c.ID)); res.StatusCode != 200 || strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("stale version: %d %v", res.StatusCode, res.Header)
		}
		for _, p := range []string{"/emotes/" + strconv.FormatInt(c.ID, 10) + "/nope", "/emotes/999/pog", "/emotes/x/pog", "/emotes/1/..%2f..%2fetc"} {
			if res, _ := http.Get(srv.URL + p); res.StatusCode != 404 {
				t.Fatalf("%s: %d", p, res.StatusCode)
			}
		}

		// Delete: owner only.
		del := func(user, name string) int {
			req, _ := http.NewRequest("DELETE", srv.URL+"/api/channels/emo/emotes/"+name, nil)
			req.Header.Set("X-Test-User", user)
			st, _ := do(t, req)
			return st
		}
		if st := del("8", "pog"); st != 403 {
			t.Fatalf("stranger deleted: %d", st)
		}
		if st := del("7", "pog"); st != 200 {
			t.Fatalf("owner delete: %d", st)
		}
		if st := del("7", "pog"); st != 404 {
			t.Fatalf("second delete: %d", st)
		}

		// At most MaxEmotes.
		for i := 0; i < MaxEmotes-3; i++ {
			if st, out := upload(t, srv, "7", fmt.Sprintf("e%02d", i), "e.png", pngOf(8, 8)); st != 201 {
				t.Fatalf("emote %d: %d %v", i, st, out)
			}
		}
		if st, out := upload(t, srv, "7", "one_more", "e.png", pngOf(8, 8)); st != 409 || out["code"] != "emotes_full" {
			t.Fatalf("51st: %d %v", st, out)
		}
		// The platform admin manages any channel.
		if st := del("1", "e00"); st != 200 {
			t.Fatalf("admin delete: %d", st)
		}
	}, Migrations())
}

// TestScheduleValidationAndOrder: entries are cleaned and bounded, past ones
// drop out, weekly ones roll forward, and only owners write.
func TestScheduleValidationAndOrder(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		srv, c := testServer(t, db)
		svc := NewService(db)
		now := time.Now()

		post := func(user string, body any) (int, map[string]any) {
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest("POST", srv.URL+"/api/channels/emo/schedule", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			if user != "" {
				req.Header.Set("X-Test-User", user)
			}
			return do(t, req)
		}
		future := now.Add(48 * time.Hour)
		if st, out := post("7", map[string]any{"starts_at": future, "title": "  Speedrun\u202e night \u200b", "weekly": false}); st != 201 || out["title"] != "Speedrun night" {
			t.Fatalf("post: %d %v", st, out)
		}
		refused := []struct {
			user   string
			body   map[string]any
			status int
			code   string
		}{
			{"7", map[string]any{"starts_at": now.Add(-time.Hour), "title": "late"}, 400, "schedule_past"},
			{"7", map[string]any{"title": "no time"}, 400, "schedule_past"},
			{"7", map[string]any{"starts_at": now.Add(400 * 24 * time.Hour), "title": "far"}, 400, "schedule_too_far"},
			{"7", map[string]any{"starts_at": future, "title": " \u200b "}, 400, "schedule_title_required"},
			{"7", map[string]any{"starts_at": future, "title": strings.Repeat("長", maxScheduleTitle+1)}, 400, "schedule_title_too_long"},
			{"7", map[string]any{"starts_at": future, "title": "bell\a"}, 400, "control_chars"},
			{"7", map[string]any{"starts_at": "friday", "title": "x"}, 400, ""},
			{"8", map[string]any{"starts_at": future, "title": "not mine"}, 403, "forbidden"},
			{"", map[string]any{"starts_at": future, "title": "anon"}, 401, ""},
		}
		for _, r := range refused {
			if st, out := post(r.user, r.body); st != r.status || (r.code != "" && out["code"] != r.code) || out["error"] == nil {
				t.Errorf("%v: %d %v; want %d %s", r.body["title"], st, out, r.status, r.code)
			}
		}

		// A past one-off entry (written directly: the API refuses it) is not
		// listed and is dropped by the next post; a weekly one that started
		// two weeks ago shows its next occurrence.
		if _, err := db.ExecContext(ctx, `INSERT INTO channel_schedule (channel_id, starts_at, title, weekly, created_at) VALUES ($1, $2, 'old', 0, 0), ($1, $3, 'weekly', 1, 0)`,
			c.ID, now.Add(-time.Hour).UnixMilli(), now.Add(-14*24*time.Hour+3*time.Hour).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		list, err := svc.Schedule(ctx, c.ID, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Title != "weekly" || !list[0].Weekly || list[1].Title != "Speedrun night" {
			t.Fatalf("schedule %+v", list)
		}
		if d := list[0].StartsAt.Sub(now); d < 2*time.Hour || d > 4*time.Hour {
			t.Fatalf("weekly next occurrence in %v", d)
		}
		for i := 0; i < MaxScheduleEntries-2; i++ {
			if st, out := post("7", map[string]any{"starts_at": now.Add(time.Duration(i+3) * 24 * time.Hour), "title": fmt.Sprint("show ", i)}); st != 201 {
				t.Fatalf("entry %d: %d %v", i, st, out)
			}
		}
		var n int
		_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM channel_schedule WHERE title = 'old'`).Scan(&n)
		if n != 0 {
			t.Fatal("a past entry was kept")
		}
		if st, out := post("7", map[string]any{"starts_at": future, "title": "eleventh"}); st != 400 || out["code"] != "schedule_full" {
			t.Fatalf("eleventh: %d %v", st, out)
		}

		// The public list: soonest first, with when the channel was last live.
		res, err := http.Get(srv.URL + "/api/channels/emo/schedule")
		if err != nil {
			t.Fatal(err)
		}
		var pub struct {
			Schedule   []ScheduleEntry
			LastLiveAt *time.Time `json:"last_live_at"`
		}
		_ = json.NewDecoder(res.Body).Decode(&pub)
		res.Body.Close()
		if len(pub.Schedule) != MaxScheduleEntries || pub.Schedule[0].Title != "weekly" || pub.LastLiveAt != nil {
			t.Fatalf("public schedule %+v", pub)
		}

		// The home page's cards get each channel's next one in one query.
		nexts, err := svc.NextStreams(ctx, []int64{c.ID, c.ID + 1000}, now)
		if err != nil || len(nexts) != 1 || nexts[c.ID].Title != "weekly" || !nexts[c.ID].StartsAt.Equal(list[0].StartsAt) {
			t.Fatalf("next streams %+v %v", nexts, err)
		}

		// Delete: owner only, by id.
		id := strconv.FormatInt(pub.Schedule[1].ID, 10)
		for _, try := range []struct {
			user string
			want int
		}{{"8", 403}, {"7", 200}, {"7", 404}} {
			req, _ := http.NewRequest("DELETE", srv.URL+"/api/channels/emo/schedule/"+id, nil)
			req.Header.Set("X-Test-User", try.user)
			if st, _ := do(t, req); st != try.want {
				t.Fatalf("delete as %s: %d, want %d", try.user, st, try.want)
			}
		}
	}, Migrations())
}

// TestLastLiveAtSurvivesRestart: the end of the last session is read from
// the database, so a fresh service (another node, a restart) sees it.
func TestLastLiveAtSurvivesRestart(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		c, _, err := svc.Create(ctx, Input{Slug: ptr("lastlive"), Title: ptr("x")}, 7)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := svc.LastLiveAt(ctx, c.ID); ok || err != nil {
			t.Fatalf("never live: %v %v", ok, err)
		}
		ref := media.ChannelRef{ID: c.ID, Slug: c.Slug}
		id, err := svc.ClaimChannel(ctx, ref, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := svc.LastLiveAt(ctx, c.ID); ok {
			t.Fatal("an open session counted as ended")
		}
		before := time.Now().Add(-time.Second)
		if err := svc.SessionEnded(ctx, id, media.Status{}, "publisher left"); err != nil {
			t.Fatal(err)
		}
		at, ok, err := NewService(db).LastLiveAt(ctx, c.ID)
		if err != nil || !ok || at.Before(before) || at.After(time.Now().Add(time.Second)) {
			t.Fatalf("last live %v %v %v", at, ok, err)
		}
	}, Migrations())
}

func TestNextOccurrence(t *testing.T) {
	start := time.Date(2026, 1, 2, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		now    time.Time
		weekly bool
		want   time.Time
		ok     bool
	}{
		{start.Add(-time.Hour), false, start, true},
		{start.Add(time.Hour), false, time.Time{}, false},
		{start.Add(time.Hour), true, start.Add(week), true},
		{start.Add(week), true, start.Add(week), true},
		{start.Add(3*week + time.Minute), true, start.Add(4 * week), true},
	}
	for _, c := range cases {
		got, ok := nextOccurrence(start, c.weekly, c.now)
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("now %v weekly %v: %v %v", c.now, c.weekly, got, ok)
		}
	}
}

// FuzzEmoteImage: any bytes are refused or accepted without a panic, and
// whatever is accepted is a small image of one of the three types.
func FuzzEmoteImage(f *testing.F) {
	f.Add(pngOf(8, 8))
	f.Add(gifOf(8, 8))
	f.Add(webp1x1)
	f.Add(bombPNG())
	f.Add([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := checkEmoteImage(data)
		if err != nil {
			return
		}
		if _, ok := emoteTypes[strings.TrimPrefix(img.contentType, "image/")]; !ok || img.width > MaxEmoteSide || img.height > MaxEmoteSide || len(data) > MaxEmoteBytes {
			t.Fatalf("accepted %+v (%d bytes)", img, len(data))
		}
	})
}
