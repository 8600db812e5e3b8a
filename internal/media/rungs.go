package media

import (
	"fmt"
	"strconv"
	"strings"
)

// LadderChoice is what a channel's next stream gets: the ladder or not,
// and which of the platform's rungs (by name; empty: all of them).
type LadderChoice struct {
	On    bool
	Rungs []string
}

// ParseRungs reads a ladder spec (--ladder-rungs): rungs separated by
// commas, each HEIGHTp[FPS]:KBPSk[:PROFILE], highest first, for example
// "1080p30:4500k:high,720p30:2500k,360p30:600k:baseline". FPS 0 or left
// out keeps the source's rate; the profile defaults to baseline for rungs
// of 360 lines or fewer (weak decoders) and main above. An empty spec is
// the DefaultLadder.
func ParseRungs(spec string) ([]Rung, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return DefaultLadder, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) > 6 {
		return nil, fmt.Errorf("ladder: %d rungs; at most 6 (each is a live encode)", len(parts))
	}
	var out []Rung
	seen := map[int]bool{}
	for _, p := range parts {
		r, err := parseRung(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("ladder rung %q: %w", p, err)
		}
		if seen[r.Height] {
			return nil, fmt.Errorf("ladder rung %q: two rungs of %d lines", p, r.Height)
		}
		seen[r.Height] = true
		if len(out) > 0 && r.Height > out[len(out)-1].Height {
			return nil, fmt.Errorf("ladder rung %q: list rungs from the highest down", p)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRung(s string) (Rung, error) {
	fields := strings.Split(s, ":")
	if len(fields) < 2 || len(fields) > 3 {
		return Rung{}, fmt.Errorf("want HEIGHTp[FPS]:KBPSk[:PROFILE]")
	}
	size, rate, ok := strings.Cut(fields[0], "p")
	if !ok {
		return Rung{}, fmt.Errorf("size %q: want e.g. 720p30", fields[0])
	}
	height, err := strconv.Atoi(size)
	if err != nil || height < 144 || height > 2160 || height%2 != 0 {
		return Rung{}, fmt.Errorf("height %q: an even number of lines from 144 to 2160", size)
	}
	fps := 0
	if rate != "" {
		if fps, err = strconv.Atoi(rate); err != nil || fps < 0 || fps > 120 {
			return Rung{}, fmt.Errorf("frame rate %q: 0 to 120", rate)
		}
	}
	kbps, err := strconv.Atoi(strings.TrimSuffix(fields[1], "k"))
	if err != nil || kbps < 100 || kbps > 50000 {
		return Rung{}, fmt.Errorf("bitrate %q: 100k to 50000k", fields[1])
	}
	profile := "main"
	if height <= 360 {
		profile = "baseline"
	}
	if len(fields) == 3 {
		profile = fields[2]
	}
	switch profile {
	case "baseline", "main", "high":
	default:
		return Rung{}, fmt.Errorf("profile %q: baseline, main or high", profile)
	}
	return Rung{Name: strconv.Itoa(height) + "p", Height: height, MaxFPS: fps, Kbps: kbps, Profile: profile}, nil
}

// pickRungs keeps the rungs a channel chose (by name); none chosen, or
// none of the chosen still offered by the platform: all of them.
func pickRungs(rungs []Rung, names []string) []Rung {
	if len(names) == 0 {
		return rungs
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []Rung
	for _, r := range rungs {
		if want[r.Name] {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return rungs
	}
	return out
}
