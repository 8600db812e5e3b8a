package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/coregx/ahocorasick"
	"github.com/mozillazg/go-pinyin"
)

// Term is one entry of a platform or channel list.
type Term struct {
	ID        int64  `json:"id"`
	ChannelID int64  `json:"-"`
	Term      string `json:"term"`
	Action    string `json:"action"` // block | hold | replace | allow
	Category  string `json:"category"`
	Pinyin    bool   `json:"pinyin"`
	// Initials also matches the pinyin initials ("sb" for 傻逼): only for
	// terms whose abbreviation is a known evasion, since two or three
	// initials collide with ordinary abbreviations ("nc", "sm", "zz").
	Initials bool `json:"initials"`
}

// variant is one way a term is written after normalisation: its units'
// runes (the automaton pattern) and their run lengths.
type variant struct {
	term   *Term
	counts []int32
	spaced []bool // the term itself has a space before this unit ("kill yourself")
	// latinEdges: a pure-Latin short term or a pinyin spelling must stand
	// as its own word ("ass" not in "pass", "sb" not in "sbc").
	wholeWord bool
	steps     uint16 // pinyin / initials
}

// matcher is one list compiled: an automaton over the variants'
// patterns (leftmost-longest) and, per pattern, the variants behind it.
type matcher struct {
	ac       *ahocorasick.Automaton
	patterns [][]variant
	terms    []*Term
	// homophones: pinyin terms of three or more characters, as their
	// toneless pinyin, matched against the text's characters read aloud
	// (草泥马 for 操你妈). Shorter terms would collide with ordinary
	// words (白吃 for 白痴, 纸张 for 智障).
	homo     *ahocorasick.Automaton
	homoVars [][]variant
}

// hit is one accepted match in units.
type hit struct {
	v          *variant
	us, ue     int // unit range
	steps      uint16
	start, end int // original byte range
}

func compile(terms []Term) (*matcher, error) {
	m := &matcher{}
	index := map[string]int{}
	var pats [][]byte
	add := func(units []unit, v variant) {
		if len(units) == 0 {
			return
		}
		var pat []byte
		v.counts = make([]int32, len(units))
		v.spaced = make([]bool, len(units))
		for i, u := range units {
			pat = utf8.AppendRune(pat, u.r)
			v.counts[i] = u.count
			v.spaced[i] = i > 0 && u.gap != gapNone
		}
		k, ok := index[string(pat)]
		if !ok {
			k = len(pats)
			index[string(pat)] = k
			pats = append(pats, pat)
			m.patterns = append(m.patterns, nil)
		}
		m.patterns[k] = append(m.patterns[k], v)
	}
	homoIndex := map[string]int{}
	var homoPats [][]byte
	for i := range terms {
		t := &terms[i]
		m.terms = append(m.terms, t)
		if t.Pinyin && t.Action != "allow" {
			if pat := homophonePattern(Normalize(t.Term).Units); pat != "" {
				k, ok := homoIndex[pat]
				if !ok {
					k = len(homoPats)
					homoIndex[pat] = k
					homoPats = append(homoPats, []byte(pat))
					m.homoVars = append(m.homoVars, nil)
				}
				m.homoVars[k] = append(m.homoVars[k], variant{term: t, steps: stepPinyin})
			}
		}
		n := Normalize(t.Term)
		units := append([]unit(nil), n.Units...)
		add(units, variant{term: t, wholeWord: allLatin(units) && len(units) <= 3})
		if t.Pinyin {
			for _, sp := range pinyinSpellings(units, t.Initials) {
				pn := Normalize(sp.text)
				add(append([]unit(nil), pn.Units...), variant{term: t, wholeWord: sp.latinOnly, steps: sp.steps})
			}
		}
	}
	if len(homoPats) > 0 {
		ac, err := ahocorasick.NewBuilder().SetMatchKind(ahocorasick.LeftmostLongest).AddPatterns(homoPats).Build()
		if err != nil {
			return nil, err
		}
		m.homo = ac
	}
	if len(pats) == 0 {
		return m, nil
	}
	ac, err := ahocorasick.NewBuilder().SetMatchKind(ahocorasick.LeftmostLongest).AddPatterns(pats).Build()
	if err != nil {
		return nil, err
	}
	m.ac = ac
	return m, nil
}

func allLatin(units []unit) bool {
	for _, u := range units {
		if !isLatin(u.r) {
			return false
		}
	}
	return len(units) > 0
}

type spelling struct {
	text      string
	latinOnly bool
	steps     uint16
}

// pinyinSpellings writes a Chinese term each way a chat might: every
// character as itself, its toneless pinyin or its initial ("傻逼" →
// "shabi", "sb", "傻b", "sha逼", …). Terms longer than five characters
// get only the all-pinyin and all-initials forms (3^n grows fast).
func pinyinSpellings(units []unit, initials bool) []spelling {
	args := pinyin.NewArgs()
	type opt struct{ full, initial string }
	opts := make([]opt, len(units))
	han := 0
	for i, u := range units {
		ps := pinyin.SinglePinyin(u.r, args)
		if len(ps) == 0 || ps[0] == "" {
			opts[i] = opt{}
			continue
		}
		han++
		opts[i] = opt{full: ps[0], initial: ps[0][:1]}
	}
	if han == 0 {
		return nil
	}
	var out []spelling
	if len(units) > 5 {
		var full, ini []byte
		for i, u := range units {
			if opts[i].full == "" {
				full, ini = utf8.AppendRune(full, u.r), utf8.AppendRune(ini, u.r)
				continue
			}
			full, ini = append(append(full, opts[i].full...), ' '), append(ini, opts[i].initial...)
		}
		out := []spelling{{strings.TrimSpace(string(full)), true, stepPinyin}}
		if initials {
			out = append(out, spelling{string(ini), true, stepInitials})
		}
		return out
	}
	var walk func(i int, acc []byte, latin bool, steps uint16)
	walk = func(i int, acc []byte, latin bool, steps uint16) {
		if i == len(units) {
			if steps != 0 {
				out = append(out, spelling{string(acc), latin, steps})
			}
			return
		}
		self := utf8.AppendRune(append([]byte(nil), acc...), units[i].r)
		walk(i+1, self, false, steps)
		if opts[i].full != "" {
			// syllables written apart ("sha bi") are the term's own spaces
			full := append([]byte(nil), acc...)
			if len(full) > 0 {
				full = append(full, ' ')
			}
			walk(i+1, append(full, opts[i].full...), latin, steps|stepPinyin)
			if initials {
				walk(i+1, append(append([]byte(nil), acc...), opts[i].initial...), latin, steps|stepInitials)
			}
		}
	}
	walk(0, nil, true, 0)
	return out
}

// find returns the accepted hits of m in n: leftmost-longest, an allow
// entry consumes its range, a variant must fit the text's run lengths and
// word edges; a rejected match lets the search resume one unit further.
func (m *matcher) find(n *Normalized, out []hit) []hit {
	if m == nil || m.ac == nil || len(n.Compact) == 0 {
		return out
	}
	pos := 0
	for pos < len(n.Compact) {
		mt, ok := m.ac.Find(n.Compact, pos)
		if !ok {
			break
		}
		us, ue := n.unitRange(mt.Start, mt.End)
		if v := m.accept(n, mt.PatternID, us, ue); v != nil {
			h := hit{v: v, us: us, ue: ue, start: int(n.Units[us].start), end: int(n.Units[ue-1].end), steps: v.steps}
			for i := us; i < ue; i++ {
				h.steps |= n.Units[i].steps
				if i > us && n.Units[i].gap != gapNone && !v.spaced[i-us] {
					h.steps |= stepSeparator
				}
				if n.Units[i].count > v.counts[i-us] {
					h.steps |= stepRepeat
				}
			}
			out = append(out, h)
			pos = mt.End
			continue
		}
		_, size := utf8.DecodeRune(n.Compact[mt.Start:])
		pos = mt.Start + size
	}
	return out
}

// accept picks the first variant of pattern pid that fits units [us,ue).
func (m *matcher) accept(n *Normalized, pid, us, ue int) *variant {
	for k := range m.patterns[pid] {
		v := &m.patterns[pid][k]
		if fits(n, v, us, ue) {
			return v
		}
	}
	return nil
}

func fits(n *Normalized, v *variant, us, ue int) bool {
	for i := us; i < ue; i++ {
		c, want := n.Units[i].count, v.counts[i-us]
		if c < want {
			return false
		}
		// Chinese doubles its characters in plain words (妈妈, 哥哥):
		// only three or more of one stand for padding (傻傻傻逼).
		if c != want && c < want+2 && !isLatin(n.Units[i].r) && !isDigit(n.Units[i].r) {
			return false
		}
	}
	first, last := n.Units[us], n.Units[ue-1]
	startEdge := us == 0 || first.gap != gapNone || !isLatin(n.Units[us-1].r) || !isLatin(first.r)
	endEdge := ue == len(n.Units) || n.Units[ue].gap != gapNone || !isLatin(n.Units[ue].r) || !isLatin(last.r)
	if v.wholeWord && (!startEdge || !endEdge) {
		return false
	}
	// Inside a match, a removed separator between Latin letters must
	// split the word into pieces the match covers whole ("f.u.c.k",
	// "fu ck"), not join two words ("this hit", "pen is").
	spaceOnly, gaps, chunk, longest := true, false, 1, 1
	for i := us + 1; i < ue; i++ {
		g := n.Units[i].gap
		if v.spaced[i-us] {
			chunk = 1 // the term's own word boundary
			continue
		}
		if g == gapNone {
			chunk++
			longest = max(longest, chunk)
			continue
		}
		if isLatin(n.Units[i].r) || isLatin(n.Units[i-1].r) {
			gaps = true
			if g == gapSymbol {
				spaceOnly = false
			}
		}
		chunk = 1
	}
	if gaps {
		if !startEdge || !endEdge {
			return false
		}
		if spaceOnly && longest > 2 {
			return false
		}
	}
	return true
}

// homophonePattern is a term's toneless pinyin when it is three or more
// Chinese characters that all have a reading, else "".
func homophonePattern(units []unit) string {
	if len(units) < 3 {
		return ""
	}
	tbl := pinyinTable()
	var b strings.Builder
	for _, u := range units {
		p, ok := tbl[u.r]
		if !ok || u.count != 1 {
			return ""
		}
		b.WriteString(p)
	}
	return b.String()
}

// findHomophones reads the text's characters as pinyin and matches the
// homophone patterns on whole syllables. Hits already found as written,
// or inside an allow entry, are not repeated.
func (m *matcher) findHomophones(n *Normalized, sc *scratch, out []hit) []hit {
	if m == nil || m.homo == nil {
		return out
	}
	han := false
	for _, u := range n.Units {
		if u.r >= 0x3400 && u.r <= 0x9FFF {
			han = true
			break
		}
	}
	if !han {
		return out
	}
	tbl := pinyinTable()
	view, at, starts := sc.homo[:0], sc.homoAt[:0], sc.homoStart[:0]
	for i, u := range n.Units {
		p, ok := "", false
		if u.r >= 0x3400 {
			p, ok = tbl[u.r]
		}
		if !ok {
			p = "|" // breaks any match
		}
		for j := 0; j < len(p); j++ {
			view, at, starts = append(view, p[j]), append(at, int32(i)), append(starts, j == 0)
		}
	}
	sc.homo, sc.homoAt, sc.homoStart = view, at, starts
	existing := len(out)
	for pos := 0; pos < len(view); {
		mt, ok := m.homo.Find(view, pos)
		if !ok {
			break
		}
		if !starts[mt.Start] || (mt.End < len(view) && !starts[mt.End]) {
			pos = mt.Start + 1
			continue
		}
		us, ue := int(at[mt.Start]), int(at[mt.End-1])+1
		for k := range m.homoVars[mt.PatternID] {
			v := &m.homoVars[mt.PatternID][k]
			if coveredHit(out[:existing], v.term, us, ue) {
				continue
			}
			h := hit{v: v, us: us, ue: ue, start: int(n.Units[us].start), end: int(n.Units[ue-1].end), steps: stepPinyin}
			for i := us; i < ue; i++ {
				h.steps |= n.Units[i].steps
			}
			out = append(out, h)
			break
		}
		pos = mt.End
	}
	return out
}

// coveredHit: the same term was already found there, or an allow entry
// covers the range.
func coveredHit(hits []hit, t *Term, us, ue int) bool {
	for _, h := range hits {
		if h.us < ue && us < h.ue && (h.v.term == t || h.v.term.Action == "allow") {
			return true
		}
	}
	return false
}
