package filter

import (
	"bufio"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode"

	"github.com/longbridgeapp/opencc"
	"github.com/mozillazg/go-pinyin"
)

// The evasion suite's variants are generated once from terms.tsv with a
// fixed seed and committed (testdata/evasion/variants.jsonl), so the
// suite is data a reviewer can read; `go test -run TestGenerateEvasion
// -update-evasion` rewrites them.
var updateEvasion = flag.Bool("update-evasion", false, "rewrite testdata/evasion/variants.jsonl")

type suiteTerm struct {
	Term
	line int
}

func readSuiteTerms(t testing.TB) []Term {
	f, err := os.Open("testdata/evasion/terms.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Term
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, "\t")
		if len(p) != 4 {
			t.Fatalf("terms.tsv: bad line %q", line)
		}
		out = append(out, Term{Term: p[0], Action: p[1], Category: p[2], Pinyin: p[3] != "0", Initials: p[3] == "2"})
	}
	return out
}

type variantLine struct {
	Term string `json:"term"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

func TestGenerateEvasion(t *testing.T) {
	if !*updateEvasion {
		t.Skip("run with -update-evasion to rewrite the committed variants")
	}
	rng := rand.New(rand.NewPCG(17, 17))
	s2t, err := opencc.New("s2t")
	if err != nil {
		t.Fatal(err)
	}
	var out []variantLine
	for _, term := range readSuiteTerms(t) {
		if term.Action == "allow" {
			continue
		}
		var vs map[string]string
		if isLatinTerm(term.Term) {
			vs = latinVariants(term.Term, rng)
		} else {
			trad, _ := s2t.Convert(term.Term)
			vs = hanVariants(term.Term, trad, term.Pinyin, term.Initials, rng)
		}
		seen := map[string]bool{term.Term: true} // a "variant" equal to the term or another is dropped
		for _, k := range sortedKeys(vs) {
			if seen[vs[k]] {
				continue
			}
			seen[vs[k]] = true
			out = append(out, variantLine{term.Term, k, vs[k]})
		}
	}
	f, err := os.Create("testdata/evasion/variants.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	for _, v := range out {
		enc.Encode(v)
	}
	t.Logf("%d variants", len(out))
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return ks
}

func isLatinTerm(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
	}
	return true
}

// mapLetters rewrites each letter with f, leaving the term's spaces.
func mapLetters(s string, f func(i int, r rune) string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if r == ' ' {
			b.WriteRune(r)
			continue
		}
		b.WriteString(f(i, r))
	}
	return b.String()
}

// joinLetters puts sep(i) between the letters of each word.
func joinLetters(s string, sep func() string) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		rs := []rune(w)
		var b strings.Builder
		for j, r := range rs {
			if j > 0 {
				b.WriteString(sep())
			}
			b.WriteRune(r)
		}
		words[i] = b.String()
	}
	return strings.Join(words, " ")
}

var cyrillic = map[rune]rune{'a': 'а', 'c': 'с', 'e': 'е', 'o': 'о', 'p': 'р', 'x': 'х', 'y': 'у', 'i': 'і', 's': 'ѕ', 'j': 'ј', 'h': 'һ', 'k': 'к', 'b': 'Ь', 'm': 'м', 't': 'т'}
var greek = map[rune]rune{'a': 'α', 'o': 'ο', 'v': 'ν', 'u': 'υ', 'i': 'ι', 'k': 'κ', 'n': 'η', 'p': 'ρ', 't': 'τ', 'x': 'χ', 'e': 'ε', 'y': 'γ'}
var leetOut = map[rune][]string{'a': {"4", "@"}, 'e': {"3"}, 'i': {"1", "!"}, 'o': {"0"}, 's': {"5", "$"}, 't': {"7", "+"}, 'g': {"9"}, 'b': {"8"}, 'l': {"1", "|"}}
var accent = map[rune]string{'a': "á", 'e': "é", 'i': "í", 'o': "ö", 'u': "ü", 'c': "ç", 'n': "ñ", 'y': "ý", 's': "š", 'z': "ž", 'r': "ř", 'g': "ğ"}

func latinVariants(t string, rng *rand.Rand) map[string]string {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	v := map[string]string{}
	v["width"] = mapLetters(t, func(_ int, r rune) string { return string(r - 'a' + 'ａ') })
	v["case"] = mapLetters(t, func(i int, r rune) string {
		if i%2 == 0 {
			return string(unicode.ToUpper(r))
		}
		return string(r)
	})
	hom := func(table map[rune]rune) string {
		return mapLetters(t, func(_ int, r rune) string {
			if c, ok := table[r]; ok {
				return string(c)
			}
			return string(r)
		})
	}
	v["homoglyph-cyrillic"] = hom(cyrillic)
	v["homoglyph-greek"] = hom(greek)
	v["math-bold"] = mapLetters(t, func(_ int, r rune) string { return string(r - 'a' + 0x1D41A) })
	v["circled"] = mapLetters(t, func(_ int, r rune) string { return string(r - 'a' + 0x24D0) })
	v["spacing"] = joinLetters(t, func() string { return " " })
	v["dots"] = joinLetters(t, func() string { return "." })
	v["symbols"] = joinLetters(t, func() string { return pick([]string{"*", "-", "_", "~", "/", "#", "^"}) })
	v["repeats"] = mapLetters(t, func(i int, r rune) string { return strings.Repeat(string(r), 1+(i*7+3)%3+rng.IntN(2)) })
	leet := func(r rune) string {
		if xs, ok := leetOut[r]; ok {
			return pick(xs)
		}
		return string(r)
	}
	v["leet"] = mapLetters(t, func(i int, r rune) string {
		if i == 0 && len(t) > 1 {
			return string(r) // keep one letter so it reads as a word
		}
		return leet(r)
	})
	v["zero-width"] = joinLetters(t, func() string { return pick([]string{"\u200b", "\u200c", "\u200d", "\u2060"}) })
	v["bidi"] = joinLetters(t, func() string { return pick([]string{"\u200e", "\u202a", "\u2066", "\ufeff"}) })
	v["accents"] = mapLetters(t, func(_ int, r rune) string {
		if a, ok := accent[r]; ok {
			return a
		}
		return string(r) + "\u0301"
	})
	v["zalgo"] = mapLetters(t, func(_ int, r rune) string {
		return string(r) + string(rune(0x300+rng.IntN(0x6F))) + string(rune(0x300+rng.IntN(0x6F)))
	})
	v["in-sentence"] = "lol you are such a " + t + " honestly"
	v["emoji-wrapped"] = "🔥🔥" + t + "🔥🔥"
	v["mixed-leet-spacing"] = joinLetters(mapLetters(t, func(i int, r rune) string {
		if i == 0 {
			return string(r)
		}
		return leet(r)
	}), func() string { return " " })
	v["mixed-homoglyph-zero-width"] = joinLetters(hom(cyrillic), func() string { return "\u200b" })
	v["mixed-width-repeats"] = mapLetters(t, func(i int, r rune) string { return strings.Repeat(string(r-'a'+'Ａ'), 1+i%3) })
	v["mixed-case-symbols-leet"] = joinLetters(mapLetters(t, func(i int, r rune) string {
		if i%2 == 1 {
			return leet(r)
		}
		return string(unicode.ToUpper(r))
	}), func() string { return "*" })
	v["ideographic-space"] = joinLetters(t, func() string { return "\u3000" })
	return v
}

func hanVariants(t, trad string, withPinyin, withInitials bool, rng *rand.Rand) map[string]string {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	join := func(s string, sep func() string) string {
		rs := []rune(s)
		var b strings.Builder
		for i, r := range rs {
			if i > 0 {
				b.WriteString(sep())
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	rs := []rune(t)
	v := map[string]string{}
	tradRaw := []rune(trad)
	if trad == t {
		trad = "「" + t + "」" // nothing to convert: quoted in full-width marks
	}
	v["traditional"] = trad
	v["in-sentence"] = "主播你就是个" + t + "吧"
	v["in-sentence-traditional"] = "說真的，" + trad + "，別再來了"
	v["emoji-wrapped"] = "😂" + t + "😂"
	v["repeats"] = strings.Repeat(string(rs[0]), 3) + string(rs[1:])
	v["zero-width-around"] = "\u200b" + t + "\u200d"
	v["brackets"] = join(t, func() string { return "】【" })
	if len(rs) == 1 {
		v["repeats-all"] = strings.Repeat(t, 3)
		v["bidi-around"] = "\u202e" + t + "\u202c"
		v["spaced-sentence"] = "你 " + t + " 啊"
		v["symbols-around"] = "*" + t + "*"
		v["fullwidth-punct"] = "！！" + t + "？？"
		v["traditional-zero-width"] = "\u2060" + trad
		v["emoji-around"] = "💩" + t + "💩"
		v["quoted"] = "“" + t + "”"
		v["repeat-zero-width"] = t + "\u200b" + t + "\u200b" + t
		v["symbols-sentence"] = "这*" + t + "*东西"
	}
	v["spacing"] = join(t, func() string { return " " })
	v["symbols"] = join(t, func() string { return pick([]string{"*", ".", "/", "~", "★", "♥", "^", "_"}) })
	v["zero-width"] = join(t, func() string { return pick([]string{"\u200b", "\u200c", "\u200d", "\u2060"}) })
	v["bidi"] = join(t, func() string { return pick([]string{"\u200e", "\u200f", "\u202a", "\ufeff"}) })
	v["emoji-between"] = join(t, func() string { return "😂" })
	v["ideographic-space"] = join(t, func() string { return "\u3000" })
	v["cjk-punct"] = join(t, func() string { return pick([]string{"，", "。", "、", "·"}) })
	v["fullwidth-symbol"] = join(t, func() string { return "＊" })
	v["traditional-spacing"] = join(trad, func() string { return " " })
	v["traditional-zero-width"] = join(trad, func() string { return "\u200b" })
	v["mixed-repeat-symbols"] = join(strings.Repeat(string(rs[0]), 3)+string(rs[1:]), func() string { return "-" })
	v["mixed-traditional-repeat-zero-width"] = join(strings.Repeat(string(tradRaw[0]), 4)+string(tradRaw[1:]), func() string { return "\u200b" })
	v["tab"] = join(t, func() string { return "\t" })
	v["spaced-symbols"] = join(t, func() string { return pick([]string{" * ", " . ", " / ", " - "}) })
	v["parenthesized"] = "(" + join(t, func() string { return ")(" }) + ")"
	v["angle-quoted"] = "＜" + t + "＞！！"
	v["traditional-symbols"] = join(string(tradRaw), func() string { return pick([]string{"*", "#", "~"}) })
	v["traditional-repeats"] = strings.Repeat(string(tradRaw[0]), 3) + string(tradRaw[1:])
	v["emoji-between-zero-width"] = join(t, func() string { return "\u200b🌸\u200b" })
	if withPinyin {
		args := pinyin.NewArgs()
		var full, ini []string
		for _, r := range rs {
			p := pinyin.SinglePinyin(r, args)
			if len(p) == 0 {
				full, ini = append(full, string(r)), append(ini, string(r))
				continue
			}
			full, ini = append(full, p[0]), append(ini, p[0][:1])
		}
		v["pinyin"] = strings.Join(full, "")
		v["pinyin-spaced"] = strings.Join(full, " ")
		v["pinyin-fullwidth-upper"] = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' {
				return r - 'a' + 'Ａ'
			}
			return r
		}, strings.Join(full, ""))
		v["pinyin-in-sentence"] = "你个" + strings.Join(full, "") + "啊"
		if len(rs) >= 3 {
			// homophones: each character swapped for another read the same
			var hs []rune
			for i, r := range rs {
				hs = append(hs, sameSound(r, full[i]))
			}
			v["homophone"] = string(hs)
		}
		if len(rs) >= 2 {
			v["mixed-char-pinyin"] = string(rs[0]) + strings.Join(full[1:], "")
		}
		if len(rs) >= 2 && withInitials {
			v["initials"] = strings.Join(ini, "")
			v["initials-upper"] = "你就是个" + strings.ToUpper(strings.Join(ini, ""))
			v["mixed-char-initial"] = string(rs[:len(rs)-1]) + ini[len(ini)-1]
		}
	}
	return v
}

// sameSound is the first other common character read like r (r itself
// when there is none).
func sameSound(r rune, reading string) rune {
	tbl := pinyinTable()
	for c := rune(0x4E00); c <= 0x9FA5; c++ {
		if c != r && tbl[c] == reading {
			if _, trad := traditional[c]; !trad {
				return c
			}
		}
	}
	return r
}
