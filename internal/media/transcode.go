package media

// audioIn returns the stream's audio as codec for a subscriber whose
// player cannot decode the source's (WebRTC plays Opus, not AAC), or nil
// when it cannot be had. The transcoder lands separately.
func (s *Stream) audioIn(codec Codec) *Track { return nil }
