package filter

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// memEngine is an engine on in-memory lists (no store): what Check sees
// after a Rebuild.
func memEngine(t testing.TB, terms []Term, model *Model, floor int) *Engine {
	t.Helper()
	e := &Engine{waves: newWaves()}
	e.pool.New = func() any { return &scratch{} }
	s := &snapshot{channels: map[int64]*matcher{}, floor: floor, model: model, terms: len(terms)}
	m, err := compile(terms)
	if err != nil {
		t.Fatal(err)
	}
	s.platform = m
	e.snap.Store(s)
	return e
}

func readVariants(t testing.TB) []variantLine {
	f, err := os.Open("testdata/evasion/variants.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []variantLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v variantLine
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func readClean(t testing.TB) []string { return readLines(t, "testdata/evasion/clean.txt") }

func readLines(t testing.TB, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// termFlagged: a block or hold term acted on the text.
func termFlagged(r Result) (string, bool) {
	for _, x := range r.Reasons {
		if x.Source == "term" && (x.Action == Block || x.Action == Hold) {
			return x.Rule, true
		}
	}
	return "", false
}

// TestEvasionSuite is the figure: ≥200 blocked terms with ≥20
// evasions each must be caught (recall ≥ 98.6%) and ≥10,000 clean lines
// must pass (false positives ≤ 0.2%).
func TestEvasionSuite(t *testing.T) {
	terms := readSuiteTerms(t)
	e := memEngine(t, terms, nil, DefaultFloor)
	ctx := context.Background()
	variants := readVariants(t)
	perTerm := map[string]int{}
	missedByKind := map[string]int{}
	var missed []string
	for _, v := range variants {
		perTerm[v.Term]++
		r := e.Check(ctx, Input{Text: v.Text, Level: 2, Kind: "chat"})
		if _, ok := termFlagged(r); !ok {
			missedByKind[v.Kind]++
			missed = append(missed, v.Term+" "+v.Kind+" "+jsonQuote(v.Text))
		}
	}
	blocked := 0
	for _, tm := range terms {
		if tm.Action != "allow" {
			blocked++
			if perTerm[tm.Term] < 20 {
				t.Errorf("term %q has %d variants, want ≥ 20", tm.Term, perTerm[tm.Term])
			}
		}
	}
	clean := readClean(t)
	var fps []string
	for _, line := range clean {
		r := e.Check(ctx, Input{Text: line, Level: 2, Kind: "chat"})
		if rule, ok := termFlagged(r); ok {
			fps = append(fps, rule+" ← "+line)
		}
	}
	recall := 1 - float64(len(missed))/float64(len(variants))
	fpRate := float64(len(fps)) / float64(len(clean))
	t.Logf("evasion suite: %d blocked terms, %d variants, recall %.4f (%d missed); %d clean lines, false positives %.4f (%d)",
		blocked, len(variants), recall, len(missed), len(clean), fpRate, len(fps))
	kinds := make([]string, 0, len(missedByKind))
	for k := range missedByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("missed %-40s %d", k, missedByKind[k])
	}
	for i, m := range missed {
		if i < 60 {
			t.Logf("missed: %s", m)
		}
	}
	for _, fp := range fps {
		t.Logf("false positive: %s", fp)
	}
	// COLD's safe lines: reported, not gated (see make_clean.py).
	cold := 0
	coldLines := readLines(t, "testdata/evasion/cold_safe.txt")
	for _, line := range coldLines {
		if _, ok := termFlagged(e.Check(ctx, Input{Text: line, Level: 2, Kind: "chat"})); ok {
			cold++
		}
	}
	t.Logf("COLD safe lines flagged by a term: %d of %d (%.4f)", cold, len(coldLines), float64(cold)/float64(len(coldLines)))
	if blocked < 200 || len(variants) < 20*blocked || len(clean) < 10000 {
		t.Fatalf("suite too small: %d terms, %d variants, %d clean lines", blocked, len(variants), len(clean))
	}
	if recall < 0.986 {
		t.Errorf("recall %.4f < 0.986", recall)
	}
	if fpRate > 0.002 {
		t.Errorf("false positives %.4f > 0.002", fpRate)
	}
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
