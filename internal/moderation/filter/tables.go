package filter

import (
	"strings"
	"sync"
	"unicode"

	"github.com/longbridgeapp/opencc"
	"github.com/mozillazg/go-pinyin"
	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// The confusable and traditional→simplified tables are built once per
// process from the libraries' data (Unicode confusables.txt, OpenCC's
// TSCharacters), then read without locks.
var (
	tablesOnce  sync.Once
	confusable  map[rune]rune
	traditional map[rune]rune
)

func loadTables() {
	tablesOnce.Do(func() {
		confusable = buildConfusables()
		traditional = buildT2S()
	})
}

// confusableOf maps a look-alike of a Latin letter or digit (Cyrillic а,
// Greek ο, accented é, mathematical 𝐚 after NFKC) to that letter.
func confusableOf(r rune) (rune, bool) {
	if r < 0x80 {
		return 0, false
	}
	c, ok := confusable[r]
	return c, ok
}

// t2sOf maps a traditional Chinese character to its simplified form.
func t2sOf(r rune) (rune, bool) {
	if r < 0x3400 {
		return 0, false
	}
	s, ok := traditional[r]
	return s, ok
}

// lowercaseLookalikes are look-alikes confusables.txt maps to another
// non-Latin prototype (к → ĸ, τ → ᴛ) rather than to a letter, and small
// Cyrillic and Greek letters people use for Latin ones.
var lowercaseLookalikes = map[rune]rune{'ь': 'b', 'ъ': 'b', 'к': 'k', 'κ': 'k', 'ĸ': 'k', 'т': 't', 'τ': 't', 'ᴛ': 't', 'ε': 'e', 'ꞓ': 'e', 'м': 'm', 'н': 'h',
	'в': 'b', 'г': 'r', 'ѡ': 'w', 'ш': 'w', 'ω': 'w', 'п': 'n', 'ρ': 'p', 'ν': 'v', 'χ': 'x', 'γ': 'y', 'л': 'n', 'и': 'u', 'ц': 'u',
	'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ꜰ': 'f', 'ɢ': 'g', 'ʜ': 'h', 'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm',
	'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r', 'ꜱ': 's', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z'}

func buildConfusables() map[rune]rune {
	m := map[rune]rune{}
	for k, v := range lowercaseLookalikes {
		m[k] = v
	}
	ranges := [][2]rune{{0x80, 0x2000}, {0x2100, 0x2C00}, {0x2C60, 0x2C80}, {0xA640, 0xA800}, {0xAB30, 0xAB70}, {0x1D400, 0x1D800}}
	for _, rg := range ranges {
		for r := rg[0]; r < rg[1]; r++ {
			if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSymbol(r) {
				continue
			}
			sk := confusables.Skeleton(string(r))
			var base []rune
			for _, b := range norm.NFD.String(sk) {
				if !unicode.Is(unicode.Mn, b) {
					base = append(base, b)
				}
			}
			if len(base) != 1 || m[r] != 0 {
				continue
			}
			b := unicode.ToLower(base[0])
			if b < 0x80 && (b >= 'a' && b <= 'z' || b >= '0' && b <= '9') {
				m[r] = b
			}
		}
	}
	return m
}

// buildT2S converts every CJK character one per line through OpenCC's t2s
// and keeps those that change into exactly one character.
func buildT2S() map[rune]rune {
	cc, err := opencc.New("t2s")
	if err != nil {
		return map[rune]rune{}
	}
	var b strings.Builder
	var src []rune
	for _, rg := range [][2]rune{{0x3400, 0x4DC0}, {0x4E00, 0xA000}, {0xF900, 0xFB00}, {0x20000, 0x2A6E0}} {
		for r := rg[0]; r < rg[1]; r++ {
			src = append(src, r)
			b.WriteRune(r)
			b.WriteByte('\n')
		}
	}
	out, err := cc.Convert(b.String())
	if err != nil {
		return map[rune]rune{}
	}
	lines := strings.Split(out, "\n")
	m := map[rune]rune{}
	if len(lines) < len(src) {
		return m
	}
	for i, r := range src {
		rs := []rune(lines[i])
		if len(rs) == 1 && rs[0] != r {
			m[r] = rs[0]
		}
	}
	return m
}

var (
	pinyinOnce sync.Once
	toneless   map[rune]string
)

// pinyinTable is each Chinese character's first toneless reading, built
// on first use (only when a list has homophone-matched terms).
func pinyinTable() map[rune]string {
	pinyinOnce.Do(func() {
		args := pinyin.NewArgs()
		toneless = make(map[rune]string, len(pinyin.PinyinDict))
		for k := range pinyin.PinyinDict {
			if k < 0x3400 {
				continue
			}
			if p := pinyin.SinglePinyin(rune(k), args); len(p) > 0 && p[0] != "" {
				toneless[rune(k)] = p[0]
			}
		}
	})
	return toneless
}
