package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"regexp"
	"strings"

	"golang.org/x/text/language"
)

// Every string a page shows comes from a message catalog, one per
// language (i18n/LANG.json): templates call {{t "key"}}, scripts call
// Livehouse.t('key'). The language is the lh_lang cookie (the switcher in
// the nav sets it) or else the best match for Accept-Language.

// Languages the pages speak; the first is the fallback.
var languages = []string{"en", "zh-CN"}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.SimplifiedChinese})

// LangCookie remembers a visitor's choice of language.
const LangCookie = "lh_lang"

// catalog is one language's messages.
type catalog map[string]string

func loadCatalogs(fsys fs.FS) (map[string]catalog, error) {
	out := map[string]catalog{}
	for _, lang := range languages {
		b, err := fs.ReadFile(fsys, "i18n/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("read %s messages: %w", lang, err)
		}
		c := catalog{}
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("parse %s messages: %w", lang, err)
		}
		out[lang] = c
	}
	return out, nil
}

var placeholder = regexp.MustCompile(`\{(\w+)\}`)

// translate looks key up and fills {name} placeholders from pairs of
// args; a missing key shows as itself (tests keep catalogs complete).
func (c catalog) translate(key string, args ...any) string {
	msg, ok := c[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return msg
	}
	vals := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		vals[fmt.Sprint(args[i])] = fmt.Sprint(args[i+1])
	}
	return placeholder.ReplaceAllStringFunc(msg, func(m string) string {
		if v, ok := vals[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// langOf picks the page language for a request.
func langOf(r *http.Request) string {
	if c, err := r.Cookie(LangCookie); err == nil {
		for _, l := range languages {
			if strings.EqualFold(c.Value, l) {
				return l
			}
		}
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return languages[0]
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return languages[0]
	}
	return languages[i]
}

// pageTemplates parses the pages once per language, each with its own t.
func pageTemplates(fsys fs.FS, cats map[string]catalog) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, lang := range languages {
		cat := cats[lang]
		js, err := json.Marshal(cat)
		if err != nil {
			return nil, err
		}
		funcs := template.FuncMap{
			"t":    cat.translate,
			"lang": func() string { return lang },
			// The catalog for scripts, as a JSON value inside <script type="application/json">.
			"messages":  func() template.JS { return template.JS(js) },
			"languages": func() []string { return languages },
		}
		t, err := template.New("pages").Funcs(funcs).ParseFS(fsys, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("parse page templates: %w", err)
		}
		out[lang] = t
	}
	return out, nil
}
