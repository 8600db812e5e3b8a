package simulcast

import (
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// Limits on what a channel owner may enter.
const (
	MaxDestinations = 8
	maxNameLen      = 60
	maxURLLen       = 1024
	maxKeyLen       = 512
)

// Protocols a destination may use.
const (
	ProtoRTMP  = "rtmp"
	ProtoRTMPS = "rtmps"
	ProtoSRT   = "srt"
)

// Refusals (docs/protocol.md lists the codes).
var (
	errBadURL  = httpjson.BadRequest("bad_destination_url", "destination URL must be rtmp://, rtmps:// or srt:// with a host")
	errBadKey  = httpjson.BadRequest("bad_stream_key", "the stream key is too long or contains spaces or control characters")
	errBadName = httpjson.BadRequest("bad_destination_name", "a destination needs a name of at most 60 characters")
	errTooMany = httpjson.NewProblem(409, "too_many_destinations", "a channel can have at most 8 simulcast destinations")
	errNoDest  = httpjson.NewProblem(404, "no_such_destination", "no such destination on this channel")
)

// parseDestURL checks a destination URL and returns its protocol.
func parseDestURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxURLLen || !utf8.ValidString(raw) || strings.ContainsFunc(raw, unicode.IsControl) {
		return "", errBadURL
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return "", errBadURL
	}
	proto := strings.ToLower(u.Scheme)
	switch proto {
	case ProtoRTMP, ProtoRTMPS, ProtoSRT:
	default:
		return "", errBadURL
	}
	host := u.Hostname()
	if host == "" || strings.ContainsAny(host, " /\\") {
		return "", errBadURL
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", errBadURL
		}
	}
	if proto == ProtoSRT && u.Path != "" && u.Path != "/" {
		return "", errBadURL // srt://host:port?streamid=… has no path
	}
	return proto, nil
}

func checkKey(key string) error {
	if len(key) > maxKeyLen || !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return errBadKey
	}
	return nil
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen || strings.ContainsFunc(name, unicode.IsControl) {
		return "", errBadName
	}
	return name, nil
}

func trimmed(s string) string { return strings.TrimSpace(s) }
