package app

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestModerationClassifyCLI: the outside contract — one JSON line per
// input line with score, category and verdict — on a fresh data directory
// (the shipped model) and after importing a term list.
func TestModerationClassifyCLI(t *testing.T) {
	dir := t.TempDir()
	getenv := func(string) string { return "" }
	run := func(stdin string, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		moderationStdin = strings.NewReader(stdin)
		code := Main(context.Background(), args, &out, &errb, getenv)
		return out.String(), errb.String(), code
	}
	lines := "今天的直播真好看\n你个傻 逼\n加我微信 abc123456 领福利\n\n黑鬼都是垃圾，滚出中国\n"
	out, errs, code := run(lines, "moderation", "classify", "--data", dir)
	if code != 0 {
		t.Fatalf("classify: %d %s", code, errs)
	}
	type verdict struct {
		Score    *int    `json:"score"`
		Category *string `json:"category"`
		Verdict  string  `json:"verdict"`
	}
	parse := func(out string) []verdict {
		var vs []verdict
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var v verdict
			if err := json.Unmarshal([]byte(l), &v); err != nil || v.Score == nil || v.Category == nil || v.Verdict == "" {
				t.Fatalf("bad line %q: %v", l, err)
			}
			vs = append(vs, v)
		}
		return vs
	}
	vs := parse(out)
	if len(vs) != 5 {
		t.Fatalf("%d lines for 5 messages:\n%s", len(vs), out)
	}
	if *vs[0].Score >= 50 || vs[0].Verdict != "allow" || *vs[4].Score < 50 || vs[2].Verdict == "allow" || *vs[2].Category != "spam" {
		t.Fatalf("verdicts:\n%s", out)
	}
	terms := filepath.Join("..", "moderation", "filter", "testdata", "evasion", "terms.tsv")
	if out, errs, code := run("", "moderation", "import-terms", terms, "--data", dir); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	out, _, _ = run("你个傻 逼\n", "moderation", "classify", "--data", dir)
	if vs := parse(out); vs[0].Verdict != "block" || *vs[0].Category != "abuse" || *vs[0].Score != 100 {
		t.Fatalf("after import: %s", out)
	}
}
