package filter

import (
	"context"
	"strconv"
)

// Thresholds is what a strictness level does with a score (the
// classifier's or a spam heuristic's): hide from viewers at or above
// Hide, hold for review at or above Hold, block at or above Block; 101 is
// never. Term lists act at every level above 0 with the term's own action.
type Thresholds struct{ Hide, Hold, Block int }

// Levels are the thresholds of levels 0 (off) … 4 (strict); README.md
// documents them.
var Levels = [5]Thresholds{
	{101, 101, 101}, // 0 off: nothing but the platform floor
	{85, 95, 101},   // 1 low: only the surest, and nothing blocked on a score
	{70, 85, 101},   // 2 medium
	{50, 70, 90},    // 3 high
	{35, 50, 75},    // 4 strict
}

// DefaultFloor is the platform floor until an admin sets one: level 1, so
// the platform list and the surest scores act in every channel.
const DefaultFloor = 1

var severity = map[Action]int{Allow: 0, Hide: 1, Hold: 2, Block: 3}

func worse(a, b Action) Action {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

// EffectiveLevel is the channel's level raised to the platform floor.
func EffectiveLevel(level, floor int) int {
	level = max(level, floor)
	return min(max(level, 0), 4)
}

// Check judges one text. It reads only memory.
func (e *Engine) Check(ctx context.Context, in Input) Result {
	s := e.snap.Load()
	res := Result{Action: Allow, Text: in.Text}
	level := EffectiveLevel(in.Level, s.floor)
	if level == 0 || in.Text == "" {
		return res
	}
	sc := e.pool.Get().(*scratch)
	defer e.pool.Put(sc)
	normalizeInto(&sc.n, in.Text, &sc.chars)
	n := &sc.n

	// Terms: the channel's allow entries also shelter text from the
	// platform list ("bass" in a music channel).
	sc.hits = sc.hits[:0]
	var chanHits []hit
	if cm := s.channels[in.ChannelID]; in.ChannelID != 0 && cm != nil {
		sc.hits = cm.find(n, sc.hits)
		chanHits = sc.hits
	}
	all := s.platform.find(n, sc.hits)
	if cm := s.channels[in.ChannelID]; in.ChannelID != 0 && cm != nil {
		all = cm.findHomophones(n, sc, all)
	}
	all = s.platform.findHomophones(n, sc, all)
	var masks [][2]int
	for i, h := range all {
		t := h.v.term
		if i >= len(chanHits) && sheltered(chanHits, h) {
			continue
		}
		if t.Action == "allow" {
			continue
		}
		act, score := termVerdict(t.Action)
		if t.Action == "replace" {
			if in.Kind != "" && in.Kind != "chat" {
				act = Block // a name cannot carry a mask
			} else {
				masks = append(masks, [2]int{h.start, h.end})
			}
		}
		res.add(Reason{Source: "term", Rule: t.Term, Category: t.Category, Steps: stepList(h.steps),
			Start: h.start, End: h.end, Score: score, Action: act})
	}
	sc.hits = all
	if len(masks) > 0 {
		res.Text = maskText(in.Text, sortRanges(masks))
	}

	th := Levels[level]
	byScore := func(score int) Action {
		switch {
		case score >= th.Block:
			return Block
		case score >= th.Hold:
			return Hold
		case score >= th.Hide:
			return Hide
		}
		return Allow
	}
	for _, r := range e.spam(sc, in) {
		r.Action = byScore(r.Score)
		res.add(r)
	}
	if s.model != nil {
		p := s.model.Score(n)
		if p >= 50 || res.Score == 0 {
			r := Reason{Source: "classifier", Rule: s.model.Version, Category: s.model.Category, Start: -1, End: -1, Score: p, Action: byScore(p)}
			if p >= 50 {
				res.add(r)
			} else if res.Score < p {
				res.Score = p // below 50 it is a score, not a reason
			}
		}
	}
	if in.Kind != "" && in.Kind != "chat" && res.Action == Hide {
		res.Action = Allow
	}
	return res
}

func (res *Result) add(r Reason) {
	res.Reasons = append(res.Reasons, r)
	res.Action = worse(res.Action, r.Action)
	if r.Score > res.Score || res.Category == "" {
		res.Category = r.Category
	}
	res.Score = max(res.Score, r.Score)
}

func termVerdict(action string) (Action, int) {
	switch action {
	case "block":
		return Block, 100
	case "hold":
		return Hold, 90
	case "replace":
		return Allow, 70
	}
	return Allow, 0
}

// sheltered: a channel allow entry covers the platform hit h.
func sheltered(chanHits []hit, h hit) bool {
	for _, c := range chanHits {
		if c.v.term.Action == "allow" && c.us <= h.us && h.ue <= c.ue {
			return true
		}
	}
	return false
}

func sortRanges(rs [][2]int) [][2]int {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j][0] < rs[j-1][0]; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
	return rs
}

// Verdict is the CLI's and the product's one-line view of a result.
type Verdict struct {
	Score    int    `json:"score"`
	Category string `json:"category"`
	Verdict  string `json:"verdict"`
}

// Summary is r as the classify command prints it.
func (r Result) Summary() Verdict {
	return Verdict{Score: r.Score, Category: r.Category, Verdict: string(r.Action)}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
