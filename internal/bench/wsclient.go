package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// A bare WebSocket client for the load generator's viewers: a handshake
// and a frame reader over one bufio.Reader, no per-message allocation
// beyond the payload buffer it reuses, so thousands of viewers cost the
// generator little and the figures are the server's.

type rawWS struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
}

// dialRawWS opens a WebSocket to wsURL from ip.
func dialRawWS(ctx context.Context, wsURL string, ip net.IP, header http.Header) (*rawWS, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n",
		u.RequestURI(), u.Host, base64.StdEncoding.EncodeToString(key[:]))
	for k, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 8<<10)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("WebSocket handshake: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		conn.Close()
		return nil, fmt.Errorf("WebSocket handshake: %s", res.Status)
	}
	return &rawWS{conn: conn, br: br}, nil
}

// read returns the next data frame's payload (valid until the next read);
// pings are answered, a close frame is io.EOF.
func (w *rawWS) read() ([]byte, error) {
	for {
		var head [10]byte
		if _, err := io.ReadFull(w.br, head[:2]); err != nil {
			return nil, err
		}
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(w.br, head[2:4]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(head[2:4]))
		case 127:
			if _, err := io.ReadFull(w.br, head[2:10]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(head[2:10])
		}
		if n > 16<<20 {
			return nil, fmt.Errorf("frame of %d bytes", n)
		}
		if uint64(cap(w.buf)) < n {
			w.buf = make([]byte, n)
		}
		p := w.buf[:n]
		if _, err := io.ReadFull(w.br, p); err != nil {
			return nil, err
		}
		switch head[0] & 0x0f {
		case 0x8:
			return nil, io.EOF
		case 0x9:
			if err := w.write(0xA, p); err != nil {
				return nil, err
			}
		case 0xA:
		default:
			return p, nil
		}
	}
}

// write sends one masked frame (the mask is zero: the server unmasks
// anyway, and the generator should not spend its core on it).
func (w *rawWS) write(op byte, p []byte) error {
	b := make([]byte, 0, 14+len(p))
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	b = append(b, p...)
	_, err := w.conn.Write(b)
	return err
}

func (w *rawWS) writeText(p string) error { return w.write(0x1, []byte(p)) }

func (w *rawWS) close() { w.conn.Close() }
