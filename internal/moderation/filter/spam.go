package filter

import (
	"hash/maphash"
	"sync"
	"time"
	"unicode"
)

// Spam and ad heuristics. They read the text after the per-character
// steps but before leetspeak (digits stay digits), plus, for waves, who
// posted what in which room lately.

var chineseDigits = map[rune]rune{'零': '0', '〇': '0', '一': '1', '二': '2', '三': '3', '四': '4', '五': '5', '六': '6', '七': '7', '八': '8', '九': '9',
	'壹': '1', '贰': '2', '叁': '3', '肆': '4', '伍': '5', '陆': '6', '柒': '7', '捌': '8', '玖': '9', '幺': '1'}

var contactWords = []string{"qq", "扣扣", "企鹅", "球球", "微信", "威信", "薇信", "徽信", "v信", "vx", "wx", "weixin", "wechat", "加我", "加v", "+v", "私聊", "联系", "q群", "群号", "电话", "手机", "tg", "telegram", "whatsapp", "line"}
var wechatWords = []string{"微信", "威信", "薇信", "徽信", "v信", "vx", "wx", "weixin", "wechat", "加v", "+v", "vx号", "wx号"}

var tlds = []string{"com", "cn", "net", "org", "xyz", "top", "cc", "io", "me", "tv", "info", "vip", "club", "site", "online", "shop", "app", "link", "live", "ru", "co", "biz", "pw", "to", "ly", "gg"}

// spam returns the heuristics that fired on the text sc holds
// normalised.
func (e *Engine) spam(sc *scratch, in Input) []Reason {
	// The view: per-character steps applied, digits kept, Chinese
	// numerals as digits.
	view := sc.view[:0]
	pos := sc.pos[:0]
	for _, c := range sc.chars {
		r := c.orig
		if d, ok := chineseDigits[r]; ok {
			r = d
		}
		view = append(view, r)
		pos = append(pos, [2]int32{c.start, c.end})
	}
	sc.view, sc.pos = view, pos
	var out []Reason
	rs := func(rule string, score int, s, e int) {
		start, end := -1, -1
		if s >= 0 && e > s && e <= len(pos) {
			start, end = int(pos[s][0]), int(pos[e-1][1])
		}
		out = append(out, Reason{Source: "spam", Rule: rule, Category: "spam", Start: start, End: end, Score: score})
	}
	keyword := containsAny(view, contactRunes)

	// Digit runs, separators of up to two characters allowed inside
	// ("138 0013 8000", "1-3-8…").
	for i := 0; i < len(view); {
		if !isDigit(view[i]) {
			i++
			continue
		}
		j, digits, last := i, 0, i
		var seen [10]bool
		var first, second rune
		for j < len(view) && j-last <= 3 {
			if isDigit(view[j]) {
				if digits == 0 {
					first = view[j]
				} else if digits == 1 {
					second = view[j]
				}
				digits++
				seen[view[j]-'0'] = true
				last = j
			} else if !(unicode.IsSpace(view[j]) || unicode.IsPunct(view[j]) || unicode.IsSymbol(view[j])) {
				break
			}
			j++
		}
		distinct := 0
		for _, s := range seen {
			if s {
				distinct++
			}
		}
		switch {
		case distinct < 3 || digits < 5:
		case digits == 11 && first == '1' && second >= '3' && second <= '9':
			rs("phone-number", 90, i, last+1)
		case keyword && digits <= 12:
			rs("contact-number", 90, i, last+1)
		case digits >= 8:
			rs("long-number", 60, i, last+1)
		}
		i = last + 1
	}
	// WeChat handles: a keyword then an id of 6–20 letters, digits, - _.
	for _, w := range wechatRunes {
		if !keyword {
			break // every WeChat word is a contact word
		}
		k := indexRunes(view, w)
		if k < 0 {
			continue
		}
		rest := view[k+len(w):]
		skip := 0
		for skip < len(rest) && skip < 3 && !isAlnum(rest[skip]) {
			skip++
		}
		id := 0
		for skip+id < len(rest) && (isAlnum(rest[skip+id]) || rest[skip+id] == '_' || rest[skip+id] == '-') {
			id++
		}
		if id >= 6 && id <= 20 {
			rs("wechat-id", 95, k, k+len(w)+skip+id)
			break
		}
	}
	if url, obf, s, e := findURL(view); url {
		switch {
		case in.UserID != 0 && in.AccountAge > 0 && in.AccountAge < 24*time.Hour:
			rs("new-account-link", 85, s, e)
		case obf:
			rs("obfuscated-url", 80, s, e)
		default:
			rs("url", 50, s, e)
		}
	}
	mentions, emoji := 0, 0
	for i, r := range view {
		if r == '@' && i+1 < len(view) && !unicode.IsSpace(view[i+1]) {
			mentions++
		}
		if r >= 0x1F300 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF {
			emoji++
		}
	}
	if mentions >= 5 {
		rs("mention-flood", 70, -1, -1)
	}
	if emoji >= 10 {
		rs("emoji-flood", 60, -1, -1)
	}
	if in.Room != "" && in.UserID != 0 && len(sc.n.Units) >= 6 && e.waves.seen(in.Room, sc.n.Compact, in.UserID, time.Now()) >= waveAccounts {
		rs("copy-paste-wave", 70, -1, -1)
	}
	return out
}

func isAlnum(r rune) bool { return isLatin(r) || isDigit(r) }

func runeWords(ws []string) [][]rune {
	out := make([][]rune, len(ws))
	for i, w := range ws {
		out[i] = []rune(w)
	}
	return out
}

var (
	contactRunes = runeWords(contactWords)
	wechatRunes  = runeWords(wechatWords)
	urlStarts    = runeWords([]string{"http://", "https://", "www."})
)

// contactFirst are the runes a contact word can start with.
var contactFirst = func() map[rune]bool {
	m := map[rune]bool{}
	for _, w := range contactWords {
		m[[]rune(w)[0]] = true
	}
	return m
}()

func containsAny(v []rune, words [][]rune) bool {
	any := false
	for _, r := range v {
		if contactFirst[r] {
			any = true
			break
		}
	}
	if !any {
		return false
	}
	for _, w := range words {
		if indexRunes(v, w) >= 0 {
			return true
		}
	}
	return false
}

// indexRunes is strings.Index over runes (chat lines are short).
func indexRunes(v, w []rune) int {
	for i := 0; i+len(w) <= len(v); i++ {
		if v[i] != w[0] {
			continue
		}
		j := 1
		for j < len(w) && v[i+j] == w[j] {
			j++
		}
		if j == len(w) {
			return i
		}
	}
	return -1
}

// findURL finds a link: a scheme, www., or a name and a known top-level
// domain joined by a dot or a written-out dot ("点", "。", "dot", "(.)").
func findURL(v []rune) (found, obfuscated bool, start, end int) {
	for _, p := range urlStarts {
		if k := indexRunes(v, p); k >= 0 {
			return true, false, k, k + len(p)
		}
	}
	for i := 0; i < len(v); i++ {
		if !isAlnum(v[i]) {
			continue
		}
		j := i
		for j < len(v) && (isAlnum(v[j]) || v[j] == '-') {
			j++
		}
		if j == len(v) {
			break
		}
		// the dot and its disguises
		dot, obf := 0, false
		switch {
		case v[j] == '.':
			dot = 1
		case v[j] == '点' || v[j] == '。' || v[j] == '·':
			dot, obf = 1, true
		case hasAt(v, j, "(.)") || hasAt(v, j, "[.]"):
			dot, obf = 3, true
		case hasAt(v, j, " dot "):
			dot, obf = 5, true
		case hasAt(v, j, " . "):
			dot, obf = 3, true
		}
		if dot > 0 {
			k := j + dot
			for _, t := range tlds {
				if hasAt(v, k, t) && (k+len(t) == len(v) || !isLatin(v[k+len(t)])) && j-i >= 2 {
					return true, obf, i, k + len(t)
				}
			}
		}
		i = j
	}
	return false, false, -1, -1
}

func hasAt(v []rune, at int, s string) bool {
	for _, r := range s {
		if at >= len(v) || v[at] != r {
			return false
		}
		at++
	}
	return true
}

// Copy-paste waves: the same normalised text from waveAccounts distinct
// accounts in one room within waveWindow.
const (
	waveAccounts = 3
	waveWindow   = 60 * time.Second
	waveRooms    = 4096 // rooms remembered; the oldest is forgotten first
	wavePerRoom  = 256  // texts remembered per room
)

type waveEntry struct {
	users []int64
	last  time.Time
}

// roomTexts are one room's recent texts, forgotten oldest first.
type roomTexts struct {
	byKey map[uint64]*waveEntry
	ring  [wavePerRoom]uint64
	next  int
}

type waves struct {
	mu    sync.Mutex
	seed  maphash.Seed
	rooms map[string]*roomTexts
	order []string
}

func newWaves() *waves {
	return &waves{seed: maphash.MakeSeed(), rooms: map[string]*roomTexts{}}
}

// seen records user posting text in room and returns how many distinct
// accounts posted it there within the window.
func (w *waves) seen(room string, text []byte, user int64, now time.Time) int {
	key := maphash.Bytes(w.seed, text)
	w.mu.Lock()
	defer w.mu.Unlock()
	texts := w.rooms[room]
	if texts == nil {
		if len(w.order) >= waveRooms {
			delete(w.rooms, w.order[0])
			w.order = w.order[1:]
		}
		texts = &roomTexts{byKey: map[uint64]*waveEntry{}}
		w.rooms[room] = texts
		w.order = append(w.order, room)
	}
	en := texts.byKey[key]
	if en == nil || now.Sub(en.last) > waveWindow {
		if en == nil {
			// the ring's oldest text makes room (if it is still the
			// same entry: a key may have been re-added since)
			if old := texts.ring[texts.next]; old != 0 || len(texts.byKey) >= wavePerRoom {
				delete(texts.byKey, old)
			}
			texts.ring[texts.next] = key
			texts.next = (texts.next + 1) % wavePerRoom
		}
		en = &waveEntry{}
		texts.byKey[key] = en
	}
	en.last = now
	for _, u := range en.users {
		if u == user {
			return len(en.users)
		}
	}
	if len(en.users) < 16 {
		en.users = append(en.users, user)
	}
	return len(en.users)
}
