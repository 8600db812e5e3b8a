package web

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// protocolCodes reads every error code docs/protocol.md documents: the
// backticked words in the first cell of each row of a table whose first
// header cell is "code" (the room protocol's error codes, the generic HTTP
// ones, WHIP/WHEP's). Other tables (frames, events, close codes, SRT reject
// codes) are left alone.
func protocolCodes(doc string) []string {
	tick := regexp.MustCompile("`([a-z][a-z0-9_]*)`")
	seen := map[string]bool{}
	inCodes := false
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inCodes = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.TrimSpace(cells[0])
		switch {
		case strings.EqualFold(first, "code"):
			inCodes = true
			continue
		case strings.Trim(first, "-: ") == "": // the separator row
			continue
		case !inCodes:
			continue
		}
		for _, m := range tick.FindAllStringSubmatch(first, -1) {
			seen[m[1]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

func TestProtocolCodesParse(t *testing.T) {
	doc := "| frame | meaning |\n|---|---|\n| `join` | x |\n\n| code | meaning | HTTP |\n|---|---|---|\n" +
		"| `a_b`, `c` | x `not_me` | 400 |\n| `d` | y | 1 |\n\ntext `e`\n| reject code | name |\n|---|---|\n| 1 | `srt` |\n"
	if got := strings.Join(protocolCodes(doc), ","); got != "a_b,c,d" {
		t.Fatalf("codes = %s", got)
	}
}

// TestProtocolCodesTranslated: every error code docs/protocol.md documents
// has a message err.CODE in every catalog, so refusals read in the page's
// language.
func TestProtocolCodesTranslated(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	codes := protocolCodes(string(doc))
	// The parser must still see the tables: a few codes that are surely there.
	for _, must := range []string{"too_long", "login_required", "slow_mode", "already_live", "rate_limited"} {
		if sort.SearchStrings(codes, must) == len(codes) || codes[sort.SearchStrings(codes, must)] != must {
			t.Fatalf("docs/protocol.md parsed to %d codes without %q: %v", len(codes), must, codes)
		}
	}
	cats, err := loadCatalogs(assets)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range languages {
		var missing []string
		for _, c := range codes {
			if _, ok := cats[lang]["err."+c]; !ok {
				missing = append(missing, "err."+c)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s lacks messages for codes in docs/protocol.md: %s", lang, strings.Join(missing, ", "))
		}
	}
}
