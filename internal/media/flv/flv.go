// Package flv reads FLV files (H.264 + AAC, as ffmpeg writes them) into
// memory, so a recorded stream can be published again: the test fixture,
// `livehouse bench`, and later VOD re-streaming.
package flv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Tag types.
const (
	TagAudio  = 8
	TagVideo  = 9
	TagScript = 18
)

// MaxTagSize bounds one tag; FLV's 24-bit size field allows 16 MiB.
const MaxTagSize = 1<<24 - 1

// Tag is one FLV tag.
type Tag struct {
	Type      uint8
	Timestamp time.Duration
	Data      []byte
}

// Reader reads tags from an FLV stream.
type Reader struct {
	r   *bufio.Reader
	hdr [11]byte
}

// NewReader checks the FLV header and returns a Reader positioned at the first tag.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	var h [9]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, fmt.Errorf("read FLV header: %w", err)
	}
	if string(h[:3]) != "FLV" || h[3] != 1 {
		return nil, errors.New("not an FLV version 1 file")
	}
	size := binary.BigEndian.Uint32(h[5:9])
	if size < 9 || size > 1024 {
		return nil, fmt.Errorf("FLV header size %d is invalid", size)
	}
	if _, err := br.Discard(int(size-9) + 4); err != nil { // rest of header + PreviousTagSize0
		return nil, fmt.Errorf("read FLV header: %w", err)
	}
	return &Reader{r: br}, nil
}

// Next returns the next tag, or io.EOF at the end of the file.
func (r *Reader) Next() (Tag, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Tag{}, io.EOF
		}
		return Tag{}, fmt.Errorf("read FLV tag header: %w", err)
	}
	h := r.hdr
	size := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	data := make([]byte, size)
	if _, err := io.ReadFull(r.r, data); err != nil {
		return Tag{}, fmt.Errorf("read FLV tag of %d bytes: %w", size, err)
	}
	if _, err := r.r.Discard(4); err != nil && !errors.Is(err, io.EOF) {
		return Tag{}, fmt.Errorf("read FLV previous tag size: %w", err)
	}
	return Tag{Type: h[0] & 0x1f, Timestamp: time.Duration(ts) * time.Millisecond, Data: data}, nil
}

// Frame is one access unit of a Recording.
type Frame struct {
	Video bool
	DTS   time.Duration
	PTS   time.Duration
	// Video: NAL units. Audio: one AAC access unit.
	Data     [][]byte
	Keyframe bool
}

// Recording is an FLV file's H.264 and AAC tracks held in memory.
type Recording struct {
	SPS, PPS []byte
	AAC      *mpeg4audio.AudioSpecificConfig
	Frames   []Frame
	Duration time.Duration
}

// ReadFile loads an FLV file with H.264 video and (optionally) AAC audio.
func ReadFile(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

// Read loads a whole FLV stream.
func Read(src io.Reader) (*Recording, error) {
	r, err := NewReader(src)
	if err != nil {
		return nil, err
	}
	rec := &Recording{}
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tag.Type {
		case TagVideo:
			err = rec.addVideo(tag)
		case TagAudio:
			err = rec.addAudio(tag)
		}
		if err != nil {
			return nil, fmt.Errorf("tag at %v: %w", tag.Timestamp, err)
		}
		if tag.Timestamp > rec.Duration {
			rec.Duration = tag.Timestamp
		}
	}
	if rec.SPS == nil {
		return nil, errors.New("no H.264 video configuration found")
	}
	return rec, nil
}

func (rec *Recording) addVideo(tag Tag) error {
	d := tag.Data
	if len(d) < 5 {
		return errors.New("video tag too short")
	}
	if codec := d[0] & 0x0f; codec != 7 {
		return fmt.Errorf("video codec id %d is not H.264 (7)", codec)
	}
	keyframe := d[0]>>4 == 1
	cts := int32(uint32(d[2])<<16|uint32(d[3])<<8|uint32(d[4])) << 8 >> 8 // signed 24-bit
	switch d[1] {
	case 0:
		sps, pps, err := ParseAVCConfig(d[5:])
		if err != nil {
			return err
		}
		rec.SPS, rec.PPS = sps, pps
	case 1:
		var au h264.AVCC
		if err := au.Unmarshal(d[5:]); err != nil {
			return fmt.Errorf("H.264 access unit: %w", err)
		}
		rec.Frames = append(rec.Frames, Frame{
			Video: true, DTS: tag.Timestamp, PTS: tag.Timestamp + time.Duration(cts)*time.Millisecond,
			Data: au, Keyframe: keyframe,
		})
	}
	return nil
}

func (rec *Recording) addAudio(tag Tag) error {
	d := tag.Data
	if len(d) < 2 {
		return errors.New("audio tag too short")
	}
	if format := d[0] >> 4; format != 10 {
		return fmt.Errorf("audio format %d is not AAC (10)", format)
	}
	if d[1] == 0 {
		var cfg mpeg4audio.AudioSpecificConfig
		if err := cfg.Unmarshal(d[2:]); err != nil {
			return fmt.Errorf("AAC configuration: %w", err)
		}
		rec.AAC = &cfg
		return nil
	}
	if len(d) > 2 {
		rec.Frames = append(rec.Frames, Frame{DTS: tag.Timestamp, PTS: tag.Timestamp, Data: [][]byte{d[2:]}})
	}
	return nil
}

// ParseAVCConfig returns the first SPS and PPS of an AVCDecoderConfigurationRecord.
func ParseAVCConfig(b []byte) (sps, pps []byte, err error) {
	if len(b) < 7 || b[0] != 1 {
		return nil, nil, errors.New("invalid AVC configuration record")
	}
	pos := 5
	// readSets reads a count byte and that many 16-bit-length-prefixed sets,
	// returning the first.
	readSets := func(countMask byte) ([]byte, error) {
		if pos >= len(b) {
			return nil, errors.New("AVC configuration record is truncated")
		}
		count := int(b[pos] & countMask)
		pos++
		var first []byte
		for i := 0; i < count; i++ {
			if pos+2 > len(b) {
				return nil, errors.New("AVC configuration record is truncated")
			}
			n := int(binary.BigEndian.Uint16(b[pos:]))
			pos += 2
			if n == 0 || pos+n > len(b) {
				return nil, errors.New("AVC configuration record is truncated")
			}
			if first == nil {
				first = b[pos : pos+n]
			}
			pos += n
		}
		return first, nil
	}
	if sps, err = readSets(0x1f); err != nil {
		return nil, nil, err
	}
	if pps, err = readSets(0xff); err != nil {
		return nil, nil, err
	}
	if sps == nil || pps == nil {
		return nil, nil, errors.New("AVC configuration record lacks an SPS or PPS")
	}
	return sps, pps, nil
}
