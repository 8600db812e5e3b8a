package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/livehouse/livehouse/internal/media"
)

// ViaEdge marks requests one node sends another for its viewers
// (?via=edge): the serving node does not count them as players, and the
// query they carry is the same for every viewer, so the playlists it
// writes are the same too.
const ViaEdge = "edge"

// hlsParams are the LL-HLS delivery directives a player adds to a media
// playlist request; gohlslib drops them from the query it copies into the
// playlist's URLs and keeps every other parameter.
var hlsParams = []string{"_HLS_msn", "_HLS_part", "_HLS_skip"}

// How long an upstream answer keeps serving viewers:
//   - parts, segments and init sections never change once made; they stay
//     for as long as a playlist may list them (mediaTTL);
//   - a blocking playlist reload (_HLS_msn/_HLS_part) answers every player
//     asking for that same part; a later asker gets the playlist as it was
//     when the part appeared, which still holds the part it waits for;
//   - a plain playlist request is short-lived: players follow it with
//     blocking reloads;
//   - a refusal (404 for a part not hinted yet, 400 for a part too far
//     ahead) is shared only briefly, so players retrying it are not all
//     refused from memory for long.
const (
	mediaTTL        = 30 * time.Second
	blockingTTL     = time.Second
	playlistTTL     = 200 * time.Millisecond
	refusalTTL      = 100 * time.Millisecond
	maxUpstreamBody = 64 << 20
)

// upstreamQuery is the query an edge sends upstream for a viewer's query:
// the viewer's own marks (session, via) are replaced by via=edge, the
// delivery directives and any other parameter are kept. It is also the
// coalescing key's query: viewers asking for the same part or the same
// blocking reload share one.
func upstreamQuery(q url.Values) url.Values {
	up := url.Values{}
	for k, v := range q {
		if k == media.SessionParam || k == media.ViaParam {
			continue
		}
		up[k] = v
	}
	up.Set(media.ViaParam, ViaEdge)
	return up
}

// withoutHLSParams is a query without the delivery directives, encoded the
// way gohlslib writes it into playlist URLs.
func withoutHLSParams(q url.Values) string {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for _, p := range hlsParams {
		out.Del(p)
	}
	return out.Encode()
}

// rewritePlaylist gives a viewer's query back to the URLs of a playlist
// fetched with the upstream query: upstream wrote "?via=edge…" after every
// URL, and the viewer's player must come back with its own session (or
// via=page). Nothing else (paths, the playlist's tags) changes.
func rewritePlaylist(body []byte, upstreamExtra, viewerExtra string) []byte {
	if upstreamExtra == viewerExtra {
		return body
	}
	from := []byte("?" + upstreamExtra)
	to := []byte(nil)
	if viewerExtra != "" {
		to = []byte("?" + viewerExtra)
	}
	return bytes.ReplaceAll(body, from, to)
}

func ttlFor(file string, q url.Values, status int) time.Duration {
	switch {
	case status >= 400 && status < 500:
		return refusalTTL
	case status != http.StatusOK:
		return 0
	case !strings.HasSuffix(file, ".m3u8"):
		return mediaTTL
	case q.Has("_HLS_msn"):
		return blockingTTL
	default:
		return playlistTTL
	}
}

// pull answers a viewer's LL-HLS request for a stream another node serves
// (base: that node's URL) from the shared upstream answers.
func (s *Service) pull(w http.ResponseWriter, r *http.Request, base string) {
	q := r.URL.Query()
	up := upstreamQuery(q)
	upRaw := up.Encode()
	target := strings.TrimSuffix(base, "/") + r.URL.EscapedPath() + "?" + upRaw
	file := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	res := s.flights.get(r.Context(), target, func(ctx context.Context) (int, http.Header, []byte, time.Duration) {
		s.upstreamRequests.WithLabelValues(media.HLSKind(file)).Inc()
		status, h, body, err := s.fetch(ctx, target)
		if err != nil {
			s.log.Warn("edge: pull from upstream", "url", target, "err", err)
			return http.StatusBadGateway, nil, nil, 0
		}
		return status, h, body, ttlFor(file, up, status)
	})
	if res == nil {
		return // the viewer left
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if res.status == http.StatusBadGateway && res.header == nil {
		hlsError(w, http.StatusBadGateway, "unavailable", "the node serving this stream did not answer")
		return
	}
	for k, v := range res.header {
		h[k] = v
	}
	body := res.body
	session := q.Get(media.SessionParam)
	if res.status == http.StatusOK && strings.HasSuffix(file, ".m3u8") {
		viewer := q
		if !q.Has(media.SessionParam) && media.OutsidePlayer(r, q) {
			// An outside player's first playlist: give it a session, as
			// the origin would, so its later requests are told apart.
			session = media.NewSessionID()
			viewer = cloneValues(q)
			viewer.Set(media.SessionParam, session)
			h.Set("Cache-Control", "private, no-cache")
		}
		body = rewritePlaylist(body, withoutHLSParams(up), withoutHLSParams(viewer))
	}
	s.viewers.touch(r, q)
	// An outside player (not a page, not another edge, not the frame
	// grabber) counts toward the stream's viewers, on the ingesting node.
	if res.status == http.StatusOK && media.OutsidePlayer(r, q) && media.ValidSessionID(session) {
		s.players.touch(r.PathValue("slug"), session, r)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(res.status)
	n, _ := w.Write(body)
	s.egress.Add(int64(n))
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// fetch asks upstream once and reads the whole answer.
func (s *Service) fetch(ctx context.Context, target string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build upstream request: %w", err)
	}
	req.Header.Set("User-Agent", "livehouse-edge")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("upstream request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read upstream answer: %w", err)
	}
	if len(body) > maxUpstreamBody {
		return 0, nil, nil, errors.New("upstream answer over 64 MiB")
	}
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Cache-Control"} {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return resp.StatusCode, h, body, nil
}

// hlsError answers like the media hub does: JSON {"error","code"}.
func hlsError(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Del("Content-Length")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"code\":%q}\n", msg, code)
}
