package media

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// videoParams keeps a video track's latest parameter sets and puts them in
// front of every random-access unit that lacks them. RTMP sends SPS/PPS once,
// out of band; a muxer, a recorder and a player joining mid-stream all need
// them with each keyframe.
type videoParams struct {
	codec         Codec
	vps, sps, pps []byte
}

func newVideoParams(t *Track) *videoParams {
	return &videoParams{codec: t.Codec, vps: t.VPS, sps: t.SPS, pps: t.PPS}
}

// process returns the access unit to pass on, or nil when it carries no
// picture (a parameter-set update alone is absorbed here), and whether it
// is a random-access point (a decoder can start there).
func (p *videoParams) process(au [][]byte) ([][]byte, bool) {
	if p.codec == H265 {
		return p.processH265(au)
	}
	return p.processH264(au)
}

func (p *videoParams) processH264(au [][]byte) ([][]byte, bool) {
	var hasSPS, hasPPS, hasIDR, hasPicture bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch typ := h264.NALUType(n[0] & 0x1f); typ {
		case h264.NALUTypeSPS:
			hasSPS = true
			p.sps = cloneIfChanged(p.sps, n)
		case h264.NALUTypePPS:
			hasPPS = true
			p.pps = cloneIfChanged(p.pps, n)
		case h264.NALUTypeIDR:
			hasIDR, hasPicture = true, true
		default:
			if typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeIDR {
				hasPicture = true
			}
		}
	}
	if !hasPicture {
		return nil, false
	}
	if hasIDR && (!hasSPS || !hasPPS) && p.sps != nil && p.pps != nil {
		return prepend(au, p.sps, p.pps), true
	}
	return au, hasIDR
}

func (p *videoParams) processH265(au [][]byte) ([][]byte, bool) {
	var hasVPS, hasSPS, hasPPS, hasIRAP, hasPicture bool
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		typ := h265.NALUType((n[0] >> 1) & 0x3f)
		switch {
		case typ == h265.NALUType_VPS_NUT:
			hasVPS = true
			p.vps = cloneIfChanged(p.vps, n)
		case typ == h265.NALUType_SPS_NUT:
			hasSPS = true
			p.sps = cloneIfChanged(p.sps, n)
		case typ == h265.NALUType_PPS_NUT:
			hasPPS = true
			p.pps = cloneIfChanged(p.pps, n)
		case typ >= h265.NALUType_BLA_W_LP && typ <= h265.NALUType_CRA_NUT:
			hasIRAP, hasPicture = true, true
		case typ < h265.NALUType_BLA_W_LP:
			hasPicture = true
		}
	}
	if !hasPicture {
		return nil, false
	}
	if hasIRAP && (!hasVPS || !hasSPS || !hasPPS) && p.vps != nil && p.sps != nil && p.pps != nil {
		return prepend(au, p.vps, p.sps, p.pps), true
	}
	return au, hasIRAP
}

func cloneIfChanged(cur, n []byte) []byte {
	if bytes.Equal(cur, n) {
		return cur
	}
	return bytes.Clone(n)
}

// prepend returns params followed by au's units, leaving out parameter
// sets already in au so none is sent twice.
func prepend(au [][]byte, params ...[]byte) [][]byte {
	out := make([][]byte, 0, len(au)+len(params))
	out = append(out, params...)
	for _, n := range au {
		dup := false
		for _, p := range params {
			if bytes.Equal(n, p) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}
