package web

import (
	"io/fs"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// TestCatalogsMatch: every language has every key, with the same {names}.
func TestCatalogsMatch(t *testing.T) {
	cats, err := loadCatalogs(assets)
	if err != nil {
		t.Fatal(err)
	}
	en := cats["en"]
	for _, lang := range languages {
		c := cats[lang]
		for k, v := range en {
			other, ok := c[k]
			if !ok {
				t.Errorf("%s lacks %q", lang, k)
				continue
			}
			if other == "" && !strings.HasSuffix(k, "_prefix") && !strings.HasSuffix(k, "_suffix") {
				t.Errorf("%s: %q is empty", lang, k)
			}
			if a, b := placeholders(v), placeholders(other); a != b {
				t.Errorf("%s: %q has placeholders %s, English has %s", lang, k, b, a)
			}
		}
		for k := range c {
			if _, ok := en[k]; !ok {
				t.Errorf("%s has %q, English does not", lang, k)
			}
		}
	}
}

func placeholders(s string) string {
	m := placeholder.FindAllString(s, -1)
	sort.Strings(m)
	return strings.Join(m, ",")
}

var (
	templateKey = regexp.MustCompile(`\bt "([^"]+)"`)
	scriptKey   = regexp.MustCompile(`\bt\('([a-z_]+\.[a-z0-9_.-]+)'`)
	scriptKeyIf = regexp.MustCompile(`\bt\([^()]*\? '([a-z_]+\.[a-z0-9_.]+)' : '([a-z_]+\.[a-z0-9_.]+)'`)
)

// TestEveryKeyUsedExists scans the templates and scripts for message keys.
func TestEveryKeyUsedExists(t *testing.T) {
	cats, err := loadCatalogs(assets)
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	check := func(file, key string) {
		used++
		if strings.HasSuffix(key, "_") || strings.HasSuffix(key, ".") {
			// A prefix completed at run time: some key must start with it.
			for k := range cats["en"] {
				if strings.HasPrefix(k, key) {
					return
				}
			}
		}
		if _, ok := cats["en"][key]; !ok {
			t.Errorf("%s uses %q, which no catalog has", file, key)
		}
	}
	err = fs.WalkDir(assets, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(path, "vendor/") {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(path, ".html"):
			for _, m := range templateKey.FindAllStringSubmatch(string(b), -1) {
				check(path, m[1])
			}
		case strings.HasSuffix(path, ".js"):
			for _, m := range scriptKey.FindAllStringSubmatch(string(b), -1) {
				check(path, m[1])
			}
			for _, m := range scriptKeyIf.FindAllStringSubmatch(string(b), -1) {
				check(path, m[1])
				check(path, m[2])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if used < 200 {
		t.Fatalf("found only %d key uses: the scanner is broken", used)
	}
}

var (
	actionRE    = regexp.MustCompile(`(?s)\{\{.*?\}\}`)
	scriptRE    = regexp.MustCompile(`(?s)<script.*?</script>`)
	tagRE       = regexp.MustCompile(`(?s)<[^>]*>`)
	textAttrRE  = regexp.MustCompile(`\b(placeholder|title|alt|aria-label)="([^"]*)"`)
	allowedText = map[string]bool{"Livehouse": true, "my-channel": true}
)

// TestNoHardCodedText: outside template actions, pages have no words.
func TestNoHardCodedText(t *testing.T) {
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(assets, f)
		src := actionRE.ReplaceAllString(scriptRE.ReplaceAllString(string(b), ""), "")
		for _, m := range textAttrRE.FindAllStringSubmatch(src, -1) {
			if hasWords(m[2]) && !allowedText[m[2]] {
				t.Errorf("%s: %s=%q is not translated", f, m[1], m[2])
			}
		}
		text := tagRE.ReplaceAllString(src, " ")
		for _, word := range strings.Fields(text) {
			if hasWords(word) && !allowedText[word] {
				t.Errorf("%s: %q is not translated", f, word)
			}
		}
	}
}

func hasWords(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

// TestPagesSpeakTheChosenLanguage: the cookie wins, then Accept-Language.
func TestPagesSpeakTheChosenLanguage(t *testing.T) {
	cats, err := loadCatalogs(assets)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := pageTemplates(assets, cats)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		accept, cookie, want string
	}{
		{"", "", "en"},
		{"zh-CN,zh;q=0.9", "", "zh-CN"},
		{"zh-TW", "", "zh-CN"},
		{"fr-FR, en;q=0.5", "", "en"},
		{"zh-CN", "en", "en"},
		{"en-US", "zh-CN", "zh-CN"},
		{"en-US", "klingon", "en"},
	} {
		r := httptest.NewRequest("GET", "/login", nil)
		if c.accept != "" {
			r.Header.Set("Accept-Language", c.accept)
		}
		if c.cookie != "" {
			r.Header.Set("Cookie", LangCookie+"="+c.cookie)
		}
		if got := langOf(r); got != c.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", c.accept, c.cookie, got, c.want)
		}
	}
	for _, lang := range languages {
		var b strings.Builder
		if err := pages[lang].ExecuteTemplate(&b, "login.html", nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), `<html lang="`+lang+`">`) || !strings.Contains(b.String(), cats[lang]["login.button"]) {
			t.Errorf("%s login page:\n%s", lang, b.String())
		}
	}
}
