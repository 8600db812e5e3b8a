package bench

import (
	"bytes"
	"os"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

func TestPartPTSUndoesTheMuxerOffset(t *testing.T) {
	part := fmp4.Parts{{Tracks: []*fmp4.PartTrack{{
		ID:       1,
		BaseTime: muxerStartOffset + 90*1000, // DTS 1000 ms
		Samples: []*fmp4.Sample{
			{Duration: 3000, PTSOffset: 6000, Payload: []byte{1}}, // PTS 1066.7 ms
			{Duration: 3000, PTSOffset: 0, Payload: []byte{2}},    // PTS 1033.3 ms
		},
	}}}}
	var buf seekablebuffer.Buffer
	if err := part.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := partPTS(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1067 || got[1] != 1033 {
		t.Fatalf("PTS = %v, want [1067 1033]", got)
	}
	if _, err := partPTS(bytes.Repeat([]byte{0xff}, 16)); err == nil {
		t.Fatal("garbage parsed as a part")
	}
}

func TestProcReadings(t *testing.T) {
	if _, err := cpuTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := rssKiB(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("rss %d %v", rss, err)
	}
}
