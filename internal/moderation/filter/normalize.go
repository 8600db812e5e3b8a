package filter

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Step bits: which normalisation steps changed a unit (Reason.Steps names).
const (
	stepNFKC uint16 = 1 << iota
	stepWidth
	stepCase
	stepConfusable
	stepZeroWidth
	stepRepeat
	stepSeparator
	stepLeet
	stepT2S
	stepPinyin
	stepInitials
)

var stepNames = []string{"nfkc", "width", "case", "confusable", "zero-width", "repeat", "separator", "leet", "t2s", "pinyin", "initials"}

func stepList(bits uint16) []string {
	var out []string
	for i, n := range stepNames {
		if bits&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// gap kinds: what was removed in front of a unit.
const (
	gapNone   uint8 = 0
	gapSpace  uint8 = 1 // only whitespace
	gapSymbol uint8 = 2 // punctuation or symbols (an inserted separator)
)

// unit is one character of the normalised text: a run of equal
// characters collapsed into one, with where it came from.
type unit struct {
	r          rune
	start, end int32  // byte range in the original text
	count      int32  // how many equal characters the run had
	steps      uint16 // normalisation steps that produced it
	gap        uint8  // what was removed before it
}

// Normalized is text after every normalisation step, as units mapped back
// to the original, and the units' runes as one UTF-8 string (what the
// automaton scans) with the unit index of each of its bytes.
type Normalized struct {
	Units   []unit
	Compact []byte
	byteAt  []int32 // Compact byte → unit index
}

// raw is one character after the per-character steps (before leet,
// separators and repeats, which look at neighbours).
type raw struct {
	r          rune
	orig       rune // after the per-character steps, before leet
	start, end int32
	steps      uint16
	sep        bool // separator (removed), unless leet turns it into a letter
	space      bool
}

// leetMap is what digits and symbols stand for inside a Latin word.
var leetMap = map[rune]rune{'0': 'o', '1': 'i', '2': 'z', '3': 'e', '4': 'a', '5': 's', '6': 'g', '7': 't', '8': 'b', '9': 'g',
	'@': 'a', '$': 's', '!': 'i', '|': 'i', '+': 't', '€': 'e', '£': 'l', '¡': 'i'}

// foldLatin merges letters that leetspeak and fonts make
// indistinguishable: l, 1 and | all become i ("k1ll", "ki||", "kill").
func foldLatin(r rune) rune {
	if r == 'l' {
		return 'i'
	}
	return r
}

func isLatin(r rune) bool { return r >= 'a' && r <= 'z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// invisible reports characters that render as nothing: zero-width and
// format characters, bidi controls, variation selectors, combining marks.
func invisible(r rune) bool {
	switch {
	case r == 0x034F || r == 0x115F || r == 0x1160 || r == 0x3164 || r == 0xFFA0:
		return true
	case r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF:
		return true
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r)
}

// perChar runs the per-character steps on r and appends the results.
func perChar(out []raw, r rune, start, end int32, pending uint16) []raw {
	if r < utf8.RuneSelf {
		steps := pending
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
			steps |= stepCase
		}
		return append(out, classify(raw{r: r, start: start, end: end, steps: steps}))
	}
	steps := pending
	if r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF {
		// CJK ideographs: NFKC, case and look-alikes leave them alone
		if t, ok := t2sOf(r); ok {
			r, steps = t, steps|stepT2S
		}
		return append(out, classify(raw{r: r, start: start, end: end, steps: steps}))
	}
	if r >= 0x1F300 && r <= 0x1FAFF {
		// emoji and pictographs: NFKC leaves them, they separate words
		return append(out, classify(raw{r: r, start: start, end: end, steps: steps}))
	}
	var buf [utf8.UTFMax]byte
	n := utf8.EncodeRune(buf[:], r)
	var one [1]rune
	mapped := one[:]
	if norm.NFKC.IsNormal(buf[:n]) {
		one[0] = r
	} else {
		mapped = []rune(norm.NFKC.String(string(r)))
		if r >= 0xFF00 && r <= 0xFFEF || r == 0x3000 {
			steps |= stepWidth
		} else {
			steps |= stepNFKC
		}
	}
	for _, m := range mapped {
		s := steps
		if invisible(m) {
			continue
		}
		if l := unicode.ToLower(m); l != m {
			m, s = l, s|stepCase
		}
		if c, ok := confusableOf(m); ok {
			m, s = c, s|stepConfusable
		}
		if t, ok := t2sOf(m); ok {
			m, s = t, s|stepT2S
		}
		out = append(out, classify(raw{r: m, start: start, end: end, steps: s}))
	}
	return out
}

// classify marks separators: whitespace, punctuation, symbols and
// controls; everything a word is made of (letters, digits, CJK, marks)
// is kept.
func classify(c raw) raw {
	r := c.r
	c.orig = r
	if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) {
		return c
	}
	c.sep = true
	c.space = unicode.IsSpace(r)
	return c
}

// Normalize runs every step on text. Invalid UTF-8 bytes are separators.
func Normalize(text string) *Normalized {
	n := &Normalized{}
	normalizeInto(n, text, nil)
	return n
}

// normalizeInto reuses n's slices (and scratch) to avoid allocating per
// message.
func normalizeInto(n *Normalized, text string, scratch *[]raw) []raw {
	loadTables()
	var chars []raw
	if scratch != nil {
		chars = (*scratch)[:0]
	}
	var pending uint16
	for i, r := range text {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			size = 1
		}
		if r >= utf8.RuneSelf && invisible(r) {
			pending |= stepZeroWidth // the next visible character carries it
			continue
		}
		before := len(chars)
		chars = perChar(chars, r, int32(i), int32(i+size), pending)
		if len(chars) > before {
			pending = 0
		}
	}
	applyLeet(chars)
	n.Units = n.Units[:0]
	n.Compact = n.Compact[:0]
	n.byteAt = n.byteAt[:0]
	gap := gapNone
	var gapSteps uint16
	for _, c := range chars {
		if c.sep {
			if c.space {
				gap = max(gap, gapSpace)
			} else {
				gap = gapSymbol
			}
			gapSteps |= c.steps & stepZeroWidth
			continue
		}
		r := foldLatin(c.r)
		if k := len(n.Units) - 1; k >= 0 && n.Units[k].r == r {
			u := &n.Units[k]
			u.end, u.count = c.end, u.count+1
			u.steps |= c.steps | stepRepeat | gapSteps
			if gap != gapNone {
				u.steps |= stepSeparator
			}
			gap, gapSteps = gapNone, 0
			continue
		}
		n.Units = append(n.Units, unit{r: r, start: c.start, end: c.end, count: 1, steps: c.steps | gapSteps, gap: gap})
		idx := int32(len(n.Units) - 1)
		var buf [utf8.UTFMax]byte
		w := utf8.EncodeRune(buf[:], r)
		n.Compact = append(n.Compact, buf[:w]...)
		for range w {
			n.byteAt = append(n.byteAt, idx)
		}
		gap, gapSteps = gapNone, 0
	}
	if scratch != nil {
		*scratch = chars
	}
	return chars
}

// applyLeet turns digits and leet symbols into letters inside words that
// hold a Latin letter ("sh1t", "$hit", "f@g", "s h ! 7": single
// characters apart count as one word); numbers elsewhere stay numbers. A
// trailing "!" is punctuation, not an i.
func applyLeet(chars []raw) {
	for i := 0; i < len(chars); {
		if chars[i].space {
			i++
			continue
		}
		j := wordEnd(chars, i)
		if j-i == 1 { // a lone character: join the run of lone characters
			k := j
			for {
				s := k
				for s < len(chars) && chars[s].space {
					s++
				}
				if s >= len(chars) || wordEnd(chars, s)-s != 1 {
					break
				}
				k = s + 1
			}
			j = k
		}
		latin := false
		for k := i; k < j; k++ {
			if isLatin(chars[k].r) {
				latin = true
				break
			}
		}
		if latin {
			end := j
			for end > i && (chars[end-1].r == '!' || chars[end-1].space) {
				end--
			}
			for k := i; k < end; k++ {
				c := &chars[k]
				if l, ok := leetMap[c.r]; ok && (isDigit(c.r) || c.sep) {
					c.r, c.sep, c.steps = l, false, c.steps|stepLeet
				}
			}
		}
		i = j
	}
}

func wordEnd(chars []raw, i int) int {
	for i < len(chars) && !chars[i].space {
		i++
	}
	return i
}

// String is the normalised text (tests, moderators' view).
func (n *Normalized) String() string { return string(n.Compact) }

// unitRange maps compact bytes [s,e) to units [us,ue).
func (n *Normalized) unitRange(s, e int) (int, int) {
	return int(n.byteAt[s]), int(n.byteAt[e-1]) + 1
}
