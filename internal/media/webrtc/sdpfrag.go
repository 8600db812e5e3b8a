package webrtc

import (
	"errors"
	"fmt"
	"strings"

	pion "github.com/pion/webrtc/v4"
)

// trickle is what a WHIP/WHEP client sends in a PATCH
// (application/trickle-ice-sdpfrag, RFC 8840): its ICE credentials and
// new candidates, per media section.
type trickle struct {
	Ufrag, Pwd string
	Candidates []pion.ICECandidateInit
	// End is set by a=end-of-candidates.
	End bool
}

// maxTrickleCandidates bounds the candidates one PATCH may add: a real
// client has a handful per interface, a flood is refused.
const maxTrickleCandidates = 64

// parseTrickle reads an SDP fragment. It accepts the lines RFC 8840 puts
// there (a=ice-ufrag, a=ice-pwd, a=ice-options, a=group, m=, a=mid,
// a=candidate, a=end-of-candidates) and ignores other attributes; anything
// that is not an SDP line is an error.
func parseTrickle(body string) (trickle, error) {
	var t trickle
	mid := ""
	mline := -1
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return t, fmt.Errorf("line %d is not an SDP line", n+1)
		}
		val := line[2:]
		switch line[0] {
		case 'm':
			mline++
			mid = ""
			continue
		case 'a':
		default:
			continue
		}
		name, value, _ := strings.Cut(val, ":")
		switch name {
		case "ice-ufrag":
			if err := checkICEChars(value); err != nil {
				return t, fmt.Errorf("ice-ufrag: %w", err)
			}
			t.Ufrag = value
		case "ice-pwd":
			if err := checkICEChars(value); err != nil {
				return t, fmt.Errorf("ice-pwd: %w", err)
			}
			t.Pwd = value
		case "mid":
			mid = value
		case "end-of-candidates":
			t.End = true
		case "candidate":
			if len(t.Candidates) >= maxTrickleCandidates {
				return t, fmt.Errorf("more than %d candidates", maxTrickleCandidates)
			}
			if err := checkCandidate(value); err != nil {
				return t, fmt.Errorf("line %d: %w", n+1, err)
			}
			c := pion.ICECandidateInit{Candidate: "candidate:" + value}
			if mid != "" {
				m := mid
				c.SDPMid = &m
			}
			idx := uint16(max(mline, 0))
			c.SDPMLineIndex = &idx
			t.Candidates = append(t.Candidates, c)
		}
	}
	return t, nil
}

// checkICEChars allows ICE's ice-char set (RFC 8839): ALPHA / DIGIT / "+" / "/".
func checkICEChars(s string) error {
	if s == "" || len(s) > 256 {
		return errors.New("empty or too long")
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '/') {
			return errors.New("invalid character")
		}
	}
	return nil
}

// checkCandidate does the cheap shape check before pion parses the
// candidate: foundation, component, transport, priority, address, port,
// "typ", type.
func checkCandidate(v string) error {
	if len(v) > 512 {
		return errors.New("candidate line too long")
	}
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return errors.New("malformed candidate")
	}
	return nil
}
