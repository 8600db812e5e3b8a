package channel

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/store"
	"github.com/livehouse/livehouse/internal/store/storetest"
	"github.com/livehouse/livehouse/internal/textclean"
)

// TestHardening20ChannelTextStripsBidiAndControls: titles, categories and
// tags lose invisible formatting (bidi overrides and isolates, zero-width
// characters, direction marks) as danmaku does, and control characters are
// refused with a code.
func TestHardening20ChannelTextStripsBidiAndControls(t *testing.T) {
	var c Channel
	in := Input{
		Slug:     ptr("bidi-test"),
		Title:    ptr("Free coins \u202egnp.exe\u202c now\u200b"),
		Category: ptr("\u2067Games\u2069"),
		Tags:     ptr([]string{"f\u200dps", "\u202dMusic\u202c", "spaced\u00a0 out"}),
	}
	if err := in.applyTo(&c); err != nil {
		t.Fatal(err)
	}
	if c.Title != "Free coins gnp.exe now" || c.Category != "Games" || strings.Join(c.Tags, "|") != "fps|music|spaced out" {
		t.Fatalf("stored %q %q %q", c.Title, c.Category, c.Tags)
	}
	for _, r := range c.Title + c.Category + strings.Join(c.Tags, "") {
		if textclean.Invisible(r) {
			t.Fatalf("invisible %U kept", r)
		}
	}
	// Whitespace of any kind folds to one space, like danmaku.
	if err := (Input{Title: ptr(" two\n\tlines ")}).applyTo(&c); err != nil || c.Title != "two lines" {
		t.Fatalf("title %q %v", c.Title, err)
	}
	refused := []struct {
		in   Input
		code string
	}{
		{Input{Title: ptr("bell\a")}, "control_chars"},
		{Input{Title: ptr("esc\x1b[31m")}, "control_chars"},
		{Input{Category: ptr("nul\x00")}, "control_chars"},
		{Input{Tags: ptr([]string{"del\x7f"})}, "control_chars"},
		{Input{Title: ptr("bad \xff")}, "bad_encoding"},
		{Input{Title: ptr("\u202e\u202c\u200b")}, "title_required"}, // nothing visible left
		{Input{Title: ptr(strings.Repeat("é", maxTitle+1))}, "too_long"},
	}
	for _, r := range refused {
		err := r.in.applyTo(&Channel{})
		var ve *httpjson.Problem
		if !errors.As(err, &ve) || ve.Status != 400 || ve.Code != r.code {
			t.Errorf("%q: %v; want code %s", describe(r.in)+strings.Join(deref(r.in.Tags), ",")+deref(r.in.Category), err, r.code)
		}
	}
	// A tag that is only invisible characters is an empty tag.
	if err := (Input{Tags: ptr([]string{"\u200b"})}).applyTo(&c); err == nil {
		t.Error("an invisible tag was accepted")
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestHardening20SearchMatchesTagValues: directory search matches tags as
// values, not the stored JSON text, on both engines: `"` and `","` match
// nothing, a tag still matches by any part of it.
func TestHardening20SearchMatchesTagValues(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := NewService(db)
		for slug, tags := range map[string][]string{"one": {"fps", "speedrun"}, "two": {"music", "lo-fi"}, "three": {}, "four": {`50%_off`}} {
			if _, _, err := svc.Create(ctx, Input{Slug: ptr(slug + "-ch"), Title: ptr("Channel " + slug), Tags: ptr(tags)}, 0); err != nil {
				t.Fatal(err)
			}
		}
		search := func(q string) string {
			t.Helper()
			cs, err := svc.Search(ctx, q, "", nil, 50)
			if err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
			var slugs []string
			for _, c := range cs {
				slugs = append(slugs, c.Slug)
			}
			sort.Strings(slugs)
			return strings.Join(slugs, ",")
		}
		for q, want := range map[string]string{
			`"`:         "",
			`","`:       "",
			`[`:         "",
			`]`:         "",
			`["fps"]`:   "",
			`fps`:       "one-ch",
			`SPEED`:     "one-ch",
			`run`:       "one-ch",
			`lo-fi`:     "two-ch",
			`%`:         "four-ch", // LIKE wildcards are literal
			`_`:         "four-ch",
			`channel t`: "three-ch,two-ch",
		} {
			if got := search(q); got != want {
				t.Errorf("q=%s: %q, want %q", q, got, want)
			}
		}
	}, Migrations())
}
