package room

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The WebSocket wire format (RFC 6455), as much of it as the gateway needs:
// the handshake, server frames (unmasked, never fragmented, so a room's
// batch is framed once and the same bytes go to every viewer) and parsing of
// client frames (masked, possibly fragmented). No extensions are negotiated:
// permessage-deflate would cost a compression per viewer or a shared
// compression context per room, and a batch of short danmaku gains little.

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// errTooBig refuses a client message over the read limit (close 1009).
var errTooBig = errors.New("message too big")

// handshake checks an upgrade request and returns the Sec-WebSocket-Accept
// value; a refusal carries the HTTP status to answer with.
func handshake(r *http.Request) (accept string, status int, err error) {
	if r.Method != http.MethodGet || !headerHas(r.Header, "Connection", "upgrade") || !headerHas(r.Header, "Upgrade", "websocket") {
		return "", http.StatusUpgradeRequired, errors.New("WebSocket protocol violation: this endpoint takes WebSocket upgrades only")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "", http.StatusBadRequest, errors.New("unsupported WebSocket protocol version (13 only)")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", http.StatusBadRequest, errors.New("invalid Sec-WebSocket-Key")
	}
	// Same origin only: another site cannot open a socket with a viewer's
	// cookies. A request without Origin is not from a browser.
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return "", http.StatusForbidden, fmt.Errorf("request Origin %q is not this host", o)
		}
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(sum[:]), 0, nil
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serverFrame is one complete, unmasked frame holding payload.
func serverFrame(op byte, payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xffff:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x80 | op
	return append(b, payload...)
}

// textFrame frames a JSON message for the wire.
func textFrame(payload []byte) []byte { return serverFrame(opText, payload) }

// payloadOf is the payload of a frame made by serverFrame.
func payloadOf(wire []byte) []byte {
	switch wire[1] {
	case 126:
		return wire[4:]
	case 127:
		return wire[10:]
	}
	return wire[2:]
}

// closeFrame is a close frame with a status code and a reason (cut to fit
// the 125 bytes a control frame may hold, on a character boundary).
func closeFrame(code int, reason string) []byte {
	for len(reason) > 123 {
		_, size := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-size]
	}
	p := make([]byte, 2, 2+len(reason))
	binary.BigEndian.PutUint16(p, uint16(code))
	return serverFrame(opClose, append(p, reason...))
}

// clientFrame is one frame a client sent, unmasked in place.
type clientFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// parseClientFrame reads the first frame of b. n is 0 while b holds only
// part of it. Frames over limit, unmasked frames, reserved bits and
// malformed control frames are errors (the connection is closed).
func parseClientFrame(b []byte, limit int) (f clientFrame, n int, err error) {
	if len(b) < 2 {
		return f, 0, nil
	}
	if b[0]&0x70 != 0 {
		return f, 0, errors.New("reserved bits set (no extension was negotiated)")
	}
	if b[1]&0x80 == 0 {
		return f, 0, errors.New("client frames must be masked")
	}
	f.fin, f.op = b[0]&0x80 != 0, b[0]&0x0f
	size, pos := uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return f, 0, nil
		}
		size, pos = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return f, 0, nil
		}
		size, pos = binary.BigEndian.Uint64(b[2:]), 10
	}
	if f.op >= opClose && (size > 125 || !f.fin) {
		return f, 0, errors.New("malformed control frame")
	}
	if size > uint64(limit) {
		return f, 0, errTooBig
	}
	end := pos + 4 + int(size)
	if len(b) < end {
		return f, 0, nil
	}
	mask := b[pos : pos+4]
	f.payload = b[pos+4 : end]
	for i := range f.payload {
		f.payload[i] ^= mask[i&3]
	}
	return f, end, nil
}
