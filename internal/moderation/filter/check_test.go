package filter

import (
	"context"
	"testing"
	"time"
)

// TestVerdictRouting: each level and kind gives the documented action.
func TestVerdictRouting(t *testing.T) {
	terms := []Term{{Term: "blockme", Action: "block", Category: "abuse"}, {Term: "holdme", Action: "hold", Category: "politics"},
		{Term: "maskme", Action: "replace", Category: "custom"}}
	ctx := context.Background()
	e := memEngine(t, terms, nil, 0)
	cases := []struct {
		text, kind string
		level      int
		want       Action
		category   string
	}{
		{"hello there", "chat", 4, Allow, ""},
		{"blockme now", "chat", 0, Allow, ""}, // off, and no floor
		{"blockme now", "chat", 1, Block, "abuse"},
		{"holdme now", "chat", 2, Hold, "politics"},
		{"maskme now", "chat", 2, Allow, "custom"},
		{"maskme now", "name", 2, Block, "custom"},
		{"call 13800138000", "chat", 1, Hide, "spam"},  // 90: low hides
		{"call 13800138000", "chat", 2, Hold, "spam"},  // medium holds
		{"call 13800138000", "chat", 4, Block, "spam"}, // strict blocks
		{"see example点com", "chat", 3, Hold, "spam"},   // obfuscated link: 80
		{"see example点com", "title", 2, Allow, ""},     // 80 at medium is hide; a title is never hidden
	}
	for _, c := range cases {
		r := e.Check(ctx, Input{Text: c.text, Level: c.level, Kind: c.kind})
		if r.Action != c.want || (c.category != "" && r.Category != c.category) {
			t.Errorf("%q %s level %d: %s %q, want %s %q (%+v)", c.text, c.kind, c.level, r.Action, r.Category, c.want, c.category, r.Reasons)
		}
	}
	// the floor lifts a channel that turned the filter off
	floored := memEngine(t, terms, nil, 2)
	if r := floored.Check(ctx, Input{Text: "blockme", Level: 0}); r.Action != Block {
		t.Errorf("floor 2, level 0: %s", r.Action)
	}
}

// TestSpamHeuristics: contacts, links, floods, waves and new accounts.
func TestSpamHeuristics(t *testing.T) {
	ctx := context.Background()
	e := memEngine(t, nil, nil, 0)
	rule := func(in Input) string {
		r := e.Check(ctx, in)
		best := ""
		top := -1
		for _, x := range r.Reasons {
			if x.Source == "spam" && x.Score > top {
				best, top = x.Rule, x.Score
			}
		}
		return best
	}
	for text, want := range map[string]string{
		"加我微信 abc_12345 领福利":           "wechat-id",
		"vx：hello2024":                 "wechat-id",
		"扣扣 2 3 4 5 6 7 8 9":           "contact-number",
		"电话１３８ ００１３ ８０００":              "phone-number",
		"幺三八零零一三八零零零":                  "phone-number",
		"https://spam.example/x":       "url",
		"go to spam dot com":           "obfuscated-url",
		"spam(.)xyz now":               "obfuscated-url",
		"@a @b @c @d @e hi":            "mention-flood",
		"😂😂😂😂😂😂😂😂😂😂😂":                  "emoji-flood",
		"6666666666":                   "",
		"哈哈哈哈哈哈哈哈":                     "",
		"the score was 3 to 1 in 2024": "",
		"my order 12345678 arrived":    "long-number",
	} {
		if got := rule(Input{Text: text, Level: 4}); got != want {
			t.Errorf("%q: rule %q, want %q", text, got, want)
		}
	}
	if got := rule(Input{Text: "see www.example.com", Level: 2, UserID: 5, AccountAge: time.Hour}); got != "new-account-link" {
		t.Errorf("a new account's link: %q", got)
	}
	// the same line from three accounts in one room is a wave; other rooms and one account repeating are not
	for i, user := range []int64{1, 1, 2, 3} {
		got := rule(Input{Text: "关注主播抽大奖快来啊", Level: 2, UserID: user, Room: "club"})
		if want := map[bool]string{true: "copy-paste-wave", false: ""}[i == 3]; got != want {
			t.Errorf("wave message %d from %d: %q, want %q", i, user, got, want)
		}
	}
	if got := rule(Input{Text: "关注主播抽大奖快来啊", Level: 2, UserID: 4, Room: "other"}); got != "" {
		t.Errorf("a wave leaked into another room: %q", got)
	}
}

// TestTrainingIsDeterministic: one seed, one model; another seed, another.
func TestTrainingIsDeterministic(t *testing.T) {
	var samples []Sample
	for i := range 400 {
		samples = append(samples, Sample{Text: "你真是个大笨蛋滚开" + string(rune('a'+i%26)), Offensive: true},
			Sample{Text: "今天天气真好一起去玩" + string(rune('a'+i%26)), Offensive: false})
	}
	a, b := Train(samples, TrainOptions{Seed: 3, Bits: 12}), Train(samples, TrainOptions{Seed: 3, Bits: 12})
	c := Train(samples, TrainOptions{Seed: 4, Bits: 12})
	same := func(x, y *Model) bool {
		if x.Bias != y.Bias {
			return false
		}
		for i := range x.W {
			if x.W[i] != y.W[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatal("two runs with seed 3 differ")
	}
	if same(a, c) {
		t.Fatal("seeds 3 and 4 gave the same model")
	}
	if m := Evaluate(a, samples); m.Accuracy < 0.99 {
		t.Fatalf("the model did not learn a separable toy set: %s", m)
	}
}

// TestDefaultModelScores: the shipped model loads and separates obvious
// cases (it is the classify command's model on a fresh install).
func TestDefaultModelScores(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	off := m.Score(Normalize("黑鬼都是垃圾，滚出中国"))
	ok := m.Score(Normalize("今天的直播很好看，谢谢主播"))
	if off < 50 || ok >= 50 {
		t.Fatalf("offensive %d, friendly %d", off, ok)
	}
}

// TestCheckConcurrentWithReload: many goroutines check while the lists
// are swapped underneath them (run with -race).
func TestCheckConcurrentWithReload(t *testing.T) {
	a := []Term{{Term: "alpha", Action: "block", Category: "custom"}}
	b := []Term{{Term: "alpha", Action: "hold", Category: "custom"}, {Term: "傻逼", Action: "block", Category: "abuse", Initials: true, Pinyin: true}}
	e := memEngine(t, a, nil, 1)
	snapA, snapB := e.snap.Load(), memEngine(t, b, nil, 1).snap.Load()
	ctx := context.Background()
	done := make(chan struct{})
	errs := make(chan string, 8)
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 2000 {
				r := e.Check(ctx, Input{Text: "x alpha sb 13800138000", Level: 2, UserID: int64(g + 1), Room: "r"})
				if r.Action != Block && r.Action != Hold {
					errs <- string(r.Action)
					return
				}
				if i%100 == 0 {
					if g%2 == 0 {
						e.snap.Store(snapB)
					} else {
						e.snap.Store(snapA)
					}
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	close(errs)
	for a := range errs {
		t.Fatalf("a check during swaps answered %s", a)
	}
}
