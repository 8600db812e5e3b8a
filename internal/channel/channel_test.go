package channel

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/media"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
	"github.com/livehouse/livehouse/internal/textclean"
)

func ptr[T any](v T) *T { return &v }

func TestChannelsOnBothEngines(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)

		c, key, err := svc.Create(ctx, Input{Slug: ptr("alice"), Title: ptr("  Alice plays  "), Category: ptr("Games"), Tags: ptr([]string{"FPS", "fps", "speedrun"})}, 7)
		if err != nil {
			t.Fatal(err)
		}
		if c.OwnerID != 7 {
			t.Fatalf("owner = %d, want 7", c.OwnerID)
		}
		if c.Title != "Alice plays" || strings.Join(c.Tags, ",") != "fps,speedrun" || !strings.HasPrefix(key, "sk_") {
			t.Fatalf("created %+v key %q", c, key)
		}
		// The key is stored only as its hash.
		var stored string
		if err := db.QueryRowContext(ctx, `SELECT stream_key_hash FROM channels WHERE slug = $1`, "alice").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == key || stored != HashKey(key) {
			t.Fatalf("stored key %q", stored)
		}
		if _, _, err := svc.Create(ctx, Input{Slug: ptr("alice"), Title: ptr("again")}, 0); !errors.Is(err, ErrSlugTaken) {
			t.Fatalf("duplicate slug: %v", err)
		}

		ref, err := svc.ChannelForKey(ctx, key)
		if err != nil || ref.Slug != "alice" || ref.ID != c.ID {
			t.Fatalf("ChannelForKey = %+v, %v", ref, err)
		}
		if _, err := svc.ChannelForKey(ctx, "sk_wrong"); !errors.Is(err, media.ErrUnknownKey) {
			t.Fatalf("wrong key: %v", err)
		}

		newKey, err := svc.RegenerateKey(ctx, "alice")
		if err != nil || newKey == key {
			t.Fatalf("regenerate: %q %v", newKey, err)
		}
		if _, err := svc.ChannelForKey(ctx, key); !errors.Is(err, media.ErrUnknownKey) {
			t.Fatal("old key still works after regeneration")
		}
		if _, err := svc.RegenerateKey(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("regenerate missing: %v", err)
		}

		u, err := svc.Update(ctx, "alice", Input{Title: ptr("New title"), Tags: ptr([]string{})}, false)
		if err != nil || u.Title != "New title" || len(u.Tags) != 0 || u.Category != "Games" {
			t.Fatalf("update: %+v %v", u, err)
		}
		if _, err := svc.Update(ctx, "alice", Input{Slug: ptr("alice2")}, true); !errors.Is(err, ErrLive) {
			t.Fatalf("rename while live: %v", err)
		}
		if _, _, err := svc.Create(ctx, Input{Slug: ptr("bob"), Title: ptr("Bob")}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Update(ctx, "alice", Input{Slug: ptr("bob")}, false); !errors.Is(err, ErrSlugTaken) {
			t.Fatalf("rename onto bob: %v", err)
		}
		if _, err := svc.Update(ctx, "alice", Input{Slug: ptr("alice2")}, false); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Get(ctx, "alice"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old slug still found: %v", err)
		}

		list, err := svc.List(ctx, "", 10)
		if err != nil || len(list) != 2 || list[0].Slug != "alice2" || list[1].Slug != "bob" {
			t.Fatalf("list: %+v %v", list, err)
		}
		page2, _ := svc.List(ctx, "alice2", 10)
		if len(page2) != 1 || page2[0].Slug != "bob" {
			t.Fatalf("page after alice2: %+v", page2)
		}

		// Live sessions: start, end, and the crash leftover closed at start-up.
		st := media.Status{StartedAt: time.Now(), Tracks: []media.TrackStatus{{Codec: media.H264, Width: 1280, Height: 720}}}
		id1, err := svc.ClaimChannel(ctx, ref, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SessionStarted(ctx, id1, st); err != nil {
			t.Fatal(err)
		}
		st.IngestBytes = 12345
		if err := svc.SessionEnded(ctx, id1, st, "publisher disconnected"); err != nil {
			t.Fatal(err)
		}
		id2, _ := svc.ClaimChannel(ctx, ref, 1, time.Minute)
		n, err := svc.CloseStaleSessions(ctx, 1)
		if err != nil || n != 1 {
			t.Fatalf("CloseStaleSessions = %d, %v; want 1", n, err)
		}
		sessions, err := svc.Sessions(ctx, ref.ID, 10)
		if err != nil || len(sessions) != 2 {
			t.Fatalf("sessions: %+v %v", sessions, err)
		}
		byID := map[int64]Session{sessions[0].ID: sessions[0], sessions[1].ID: sessions[1]}
		if s := byID[id1]; s.EndReason != "publisher disconnected" || s.IngestBytes != 12345 || s.EndedAt == nil {
			t.Errorf("session 1 = %+v", s)
		}
		if s := byID[id2]; s.EndReason != "server restarted" || s.EndedAt == nil {
			t.Errorf("session 2 = %+v", s)
		}
	}, Migrations())
}

func TestInputValidation(t *testing.T) {
	bad := []Input{
		{Slug: ptr("ab"), Title: ptr("x")},
		{Slug: ptr("Upper"), Title: ptr("x")},
		{Slug: ptr("-lead"), Title: ptr("x")},
		{Slug: ptr("trail-"), Title: ptr("x")},
		{Slug: ptr("dou--ble"), Title: ptr("x")},
		{Slug: ptr(strings.Repeat("a", 33)), Title: ptr("x")},
		{Slug: ptr("ok-slug"), Title: ptr("   ")},
		{Slug: ptr("ok-slug"), Title: ptr(strings.Repeat("é", 141))},
		{Slug: ptr("ok-slug"), Title: ptr("bell\a")},
		{Slug: ptr("ok-slug"), Title: ptr("x"), Category: ptr(strings.Repeat("c", 65))},
		{Slug: ptr("ok-slug"), Title: ptr("x"), Tags: ptr([]string{""})},
		{Slug: ptr("ok-slug"), Title: ptr("x"), Tags: ptr(make([]string, 11))},
		{Slug: ptr("ok-slug"), Title: ptr("bad \xff utf8")},
	}
	for _, in := range bad {
		var c Channel
		err := in.applyTo(&c)
		var ve *httpjson.Problem
		if !errors.As(err, &ve) || ve.Status != 400 {
			t.Errorf("input %+v accepted", describe(in))
		}
	}
	var c Channel
	if err := (Input{Slug: ptr("good-slug-1"), Title: ptr("标题 with emoji 🎮")}).applyTo(&c); err != nil {
		t.Fatalf("valid input refused: %v", err)
	}
}

func describe(in Input) string {
	var b strings.Builder
	if in.Slug != nil {
		b.WriteString("slug=" + *in.Slug + " ")
	}
	if in.Title != nil {
		b.WriteString("title=" + *in.Title)
	}
	return b.String()
}

func FuzzInput(f *testing.F) {
	f.Add("demo", "Demo", "Games", "a,b")
	f.Add("x--y", "\x00", "", "")
	f.Add("bidi", "a\u202eb", "\u2066c", "\u200bd,e\u200e")
	f.Fuzz(func(t *testing.T, slug, title, category, tags string) {
		tagList := strings.Split(tags, ",")
		var c Channel
		in := Input{Slug: &slug, Title: &title, Category: &category, Tags: &tagList}
		if err := in.applyTo(&c); err != nil {
			return
		}
		if !slugPattern.MatchString(c.Slug) || c.Title == "" || len(c.Tags) > maxTags {
			t.Fatalf("accepted %+v", c)
		}
		for _, r := range c.Title + c.Category + strings.Join(c.Tags, "") {
			if textclean.Invisible(r) || unicode.IsControl(r) {
				t.Fatalf("kept %U in %+v", r, c)
			}
		}
	})
}
