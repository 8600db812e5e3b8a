package filter

import (
	"context"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNormalizeSteps: each step alone, with the step recorded and the
// match mapped back to the original bytes.
func TestNormalizeSteps(t *testing.T) {
	e := memEngine(t, []Term{{Term: "fuck", Action: "block", Category: "abuse"}, {Term: "傻逼", Action: "block", Category: "abuse", Pinyin: true, Initials: true},
		{Term: "妈的", Action: "block", Category: "abuse"}, {Term: "shit", Action: "block", Category: "abuse"}, {Term: "操你妈", Action: "block", Category: "abuse", Pinyin: true}}, nil, 1)
	cases := []struct {
		step, text, normal, matched string // matched: the original bytes the reason points at
	}{
		{"nfkc", "x ﬀuck", "xfuck", "ﬀuck"}, // ligature ﬀ → ff, then one f
		{"nfkc", "oh 𝐟𝐮𝐜𝐤 no", "ohfuckno", "𝐟𝐮𝐜𝐤"},
		{"width", "ｆｕｃｋ", "fuck", "ｆｕｃｋ"},
		{"case", "FuCK", "fuck", "FuCK"},
		{"confusable", "fuсk", "fuck", "fuсk"}, // Cyrillic с
		{"zero-width", "fu\u200bck", "fuck", "fu\u200bck"},
		{"repeat", "fuuuuck", "fuck", "fuuuuck"},
		{"separator", "f.u.c.k!", "fuck", "f.u.c.k"},
		{"leet", "oh sh1t", "ohshit", "sh1t"},
		{"confusable", "f\u00fcck", "fuck", "f\u00fcck"},
		{"t2s", "他媽的", "他妈的", "媽的"},
		{"pinyin", "你个shabi", "你个shabi", "shabi"},
		{"initials", "你个SB", "你个sb", "SB"},
		{"pinyin", "草泥马啊", "草泥马啊", "草泥马"}, // a homophone of 操你妈
	}
	for _, c := range cases {
		n := Normalize(c.text)
		if got := n.String(); got != strings.ReplaceAll(c.normal, "l", "i") { // l and i are one letter
			t.Errorf("%s: Normalize(%q) = %q, want %q", c.step, c.text, got, c.normal)
		}
		r := e.Check(context.Background(), Input{Text: c.text, Level: 2, Kind: "chat"})
		if c.matched == "" {
			continue
		}
		if len(r.Reasons) == 0 {
			t.Errorf("%s: %q not matched", c.step, c.text)
			continue
		}
		rs := r.Reasons[0]
		if c.text[rs.Start:rs.End] != c.matched {
			t.Errorf("%s: %q matched bytes %d–%d %q, want %q", c.step, c.text, rs.Start, rs.End, c.text[rs.Start:rs.End], c.matched)
		}
		if !slices.Contains(rs.Steps, c.step) && c.step != "nfkc" || c.step == "nfkc" && !slices.Contains(rs.Steps, "nfkc") {
			t.Errorf("%s: %q steps %v, want %s among them", c.step, c.text, rs.Steps, c.step)
		}
	}
}

// TestMatcherEdges: Scunthorpe and bass, words joined by a removed space,
// doubled Chinese characters, short terms as whole words only.
func TestMatcherEdges(t *testing.T) {
	terms := []Term{{Term: "ass", Action: "block", Category: "abuse"}, {Term: "cunt", Action: "block", Category: "abuse"},
		{Term: "shit", Action: "block", Category: "abuse"}, {Term: "penis", Action: "block", Category: "sexual"},
		{Term: "他妈的", Action: "block", Category: "abuse"}, {Term: "scunthorpe", Action: "allow", Category: "custom"},
		{Term: "bass", Action: "allow", Category: "custom"}, {Term: "kill yourself", Action: "block", Category: "abuse"}}
	e := memEngine(t, terms, nil, 1)
	for text, want := range map[string]bool{
		"Scunthorpe United": false, "the bass drops": false, "you ass": true, "a s s": true, "passing": false, "grass": false,
		"this hit hard": false, "push it": false, "the pen is blue": false, "pen.is": true, "sh it": true, "s h i t": true,
		"他妈妈的衣服": false, "他他他妈的": true, "他 妈 的": true, "kill yourself": true, "killyourself": true, "k i l l  y o u r s e l f": true,
		"cuntry": true, "ASS!!!": true, "a$$": true, "as": false,
	} {
		r := e.Check(context.Background(), Input{Text: text, Level: 2, Kind: "chat"})
		if got := r.Action == Block; got != want {
			t.Errorf("%q: blocked=%v, want %v (%+v)", text, got, want, r.Reasons)
		}
	}
}

// TestMaskKeepsTheRest: "replace" masks exactly the original characters.
func TestMaskKeepsTheRest(t *testing.T) {
	e := memEngine(t, []Term{{Term: "damn", Action: "replace", Category: "abuse"}}, nil, 1)
	r := e.Check(context.Background(), Input{Text: "oh ＤＡＭＮ it, d.a.m.n!", Level: 2, Kind: "chat"})
	if r.Text != "oh ＊＊＊＊ it, ＊＊＊＊＊＊＊!" || r.Action != Allow {
		t.Fatalf("masked %q, action %s", r.Text, r.Action)
	}
	if r := e.Check(context.Background(), Input{Text: "damn", Level: 2, Kind: "name"}); r.Action != Block {
		t.Fatalf("a name with a replace term: %s", r.Action)
	}
}

// FuzzNormalize: any input normalises without panicking into units that
// point inside the original, in order, and Check's reasons and masked
// text stay valid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"f.u.c.k", "傻 * 逼", "ｓｂ", "a\u200bb", "\xff\xfe", "𝐟𝐮𝐜𝐤", "1111", "a$$!", "kill  yourself", "他妈的", "\u0301\u0301x"} {
		f.Add(s)
	}
	e := memEngine(f, readSuiteTermsF(f), nil, 1)
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		prev := int32(0)
		for i, u := range n.Units {
			if u.start < prev || u.start >= u.end || int(u.end) > len(s) || u.count < 1 {
				t.Fatalf("unit %d %+v out of order or range for %q", i, u, s)
			}
			prev = u.start
		}
		if !utf8.Valid(n.Compact) || len(n.byteAt) != len(n.Compact) {
			t.Fatalf("compact %q invalid", n.Compact)
		}
		r := e.Check(context.Background(), Input{Text: s, Level: 4, Kind: "chat"})
		for _, rs := range r.Reasons {
			if rs.Start != -1 && (rs.Start < 0 || rs.End > len(s) || rs.Start >= rs.End) {
				t.Fatalf("reason %+v out of range for %q", rs, s)
			}
		}
		if utf8.ValidString(s) && !utf8.ValidString(r.Text) {
			t.Fatalf("masked text invalid: %q", r.Text)
		}
	})
}

func readSuiteTermsF(f *testing.F) []Term { return readSuiteTerms(f) }
