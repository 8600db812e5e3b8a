package edge

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/live"
	"github.com/livehouse/livehouse/internal/policy"
)

// RegionHeader names the viewer's region, set by the reverse proxy or CDN
// in front of the nodes (which knows where the viewer connected); ?region=
// overrides it.
const RegionHeader = "X-Livehouse-Region"

// playJSON is where a viewer should play a channel.
type playJSON struct {
	HLS    string `json:"hls"`
	Node   string `json:"node"`
	Region string `json:"region"`
	// Origin is set when no edge could take the viewer.
	Origin bool `json:"origin,omitempty"`
}

// play answers GET /api/play/SLUG: the LL-HLS URL on the least-loaded
// healthy edge in the viewer's region, else in any region, else on the
// origin that ingests the channel.
func (s *Service) play(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	st, ok := s.d.Directory.Lookup(slug)
	if !ok {
		httpjson.Fail(w, httpjson.NewProblem(http.StatusNotFound, "not_live", "channel is not live"))
		return
	}
	region := r.URL.Query().Get("region")
	if region == "" {
		region = r.Header.Get(RegionHeader)
	}
	path := "/hls/" + url.PathEscape(slug) + "/index.m3u8"
	nodes := s.loads.Nodes()
	// ?avoid=node-N: the page's edge stopped answering; it may still read
	// healthy for up to HealthyWithin.
	avoid := r.URL.Query().Get("avoid")
	candidates := nodes[:0:0]
	for _, n := range nodes {
		if nodeName(n.ID) != avoid {
			candidates = append(candidates, n)
		}
	}
	if n, ok := pick(candidates, region, rand.IntN); ok {
		httpjson.Write(w, http.StatusOK, playJSON{HLS: hlsURL(n, path), Node: nodeName(n.ID), Region: n.Region})
		return
	}
	// No edge: the origin itself (its public URL when it reports one).
	out := playJSON{HLS: path, Node: nodeName(st.Node.ID), Origin: true}
	for _, n := range nodes {
		if n.ID == st.Node.ID {
			out.Region = n.Region
			if n.PublicURL != "" {
				out.HLS = hlsURL(n, path)
			}
		}
	}
	httpjson.Write(w, http.StatusOK, out)
}

// hlsURL is path on node n: relative when n is the node answering, so a
// page keeps loading its video from wherever it loaded the page (a LAN
// name, a proxy's host) rather than from this node's advertised URL.
func hlsURL(n live.NodeLoad, path string) string {
	if n.Self {
		return path
	}
	return n.PublicURL + path
}

func nodeName(id int) string { return "node-" + strconv.Itoa(id) }

// servesViewers: edges, and nodes doing everything (role all), take viewers;
// origins only as the last resort.
func servesViewers(n live.NodeLoad) bool {
	return n.Healthy && n.PublicURL != "" && (n.Role == "edge" || n.Role == "all")
}

// pick chooses among the healthy viewer-serving nodes of the viewer's
// region (any region when none is there): of two drawn at random, the one
// with fewer viewers. Reports are a second old, so always taking the
// least-loaded one would send every viewer arriving within that second to
// the same node; two random choices spread them and still avoid the
// loaded ones.
func pick(nodes []live.NodeLoad, region string, intn func(int) int) (live.NodeLoad, bool) {
	var here, any []live.NodeLoad
	for _, n := range nodes {
		if !servesViewers(n) {
			continue
		}
		any = append(any, n)
		if region != "" && strings.EqualFold(n.Region, region) {
			here = append(here, n)
		}
	}
	set := here
	if len(set) == 0 {
		set = any
	}
	switch len(set) {
	case 0:
		return live.NodeLoad{}, false
	case 1:
		return set[0], true
	}
	a, b := set[intn(len(set))], set[intn(len(set))]
	if b.Viewers < a.Viewers || (b.Viewers == a.Viewers && b.CPU < a.CPU) {
		a = b
	}
	return a, true
}

// nodes answers GET /api/admin/nodes: every node heard in the last minute.
func (s *Service) nodes(w http.ResponseWriter, r *http.Request) {
	if _, err := s.d.Authorize(r, policy.ActPlatformAdmin, 0, 0); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"nodes": s.loads.Nodes(), "healthy_within_ms": live.HealthyWithin.Milliseconds()})
}
