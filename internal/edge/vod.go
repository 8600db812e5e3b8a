package edge

import (
	"net/http"
	"net/http/httputil"
	"net/url"
)

// ProxyToNode answers a request for a file only another node holds (a
// replay recorded there) by passing it to that node as it came: same
// path, query, cookies and bearer token, so that node checks the same
// rights again.
func (s *Service) ProxyToNode(w http.ResponseWriter, r *http.Request, node int) {
	n, ok := s.loads.Node(node)
	if !ok || n.URL == "" {
		hlsError(w, http.StatusServiceUnavailable, "unavailable", "the node holding this recording is not running")
		return
	}
	target, err := url.Parse(n.URL)
	if err != nil {
		hlsError(w, http.StatusServiceUnavailable, "unavailable", "the node holding this recording has no usable address")
		return
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
		},
		Transport: s.client.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("edge: proxy to the recording's node", "node", node, "path", r.URL.Path, "err", err)
			hlsError(w, http.StatusBadGateway, "unavailable", "the node holding this recording did not answer")
		},
	}
	rp.ServeHTTP(w, r)
}
