package app

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// checkTables are the tables a danmaku's checks could read: who is sending
// (sessions, tokens, accounts, bans), the channel and its rules,
// moderators, mutes, follows and the sender's fan standing.
var checkTables = regexp.MustCompile(`\b(sessions|api_tokens|users|sanctions|channel_moderators|channel_rules|channels|follows|memberships|fan_medals|channel_money|platform_settings)\b`)

// queryCounter counts the statements a node sends to SQLite that read or
// write the check tables (background loops — outbox relay, settlement,
// renewals — touch other tables or are recognised and left out).
type queryCounter struct {
	mu   sync.Mutex
	seen []string
}

func (q *queryCounter) saw(query string) {
	if !checkTables.MatchString(query) || strings.Contains(query, "auto_renew") {
		return
	}
	q.mu.Lock()
	q.seen = append(q.seen, strings.Join(strings.Fields(query), " "))
	q.mu.Unlock()
}

func (q *queryCounter) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.seen
	q.seen = nil
	return out
}

// TestQueriesPerDanmaku: once a room and its sender are loaded (a viewer
// joining loads both; an HTTP sender's first message does), a danmaku costs
// no query before its insert, over the WebSocket or over HTTP.
func TestQueriesPerDanmaku(t *testing.T) {
	n := startNode(t, "")
	n.createChannel("counted")
	chatter := newUser(t, n, "counter", false)
	tokenUser := newUser(t, n, "botowner", false)
	r := tokenUser.do("POST", "/api/tokens", map[string]any{"name": "bot", "scopes": []string{"chat:write"}})
	if r.code != 201 {
		t.Fatalf("token: %d %s", r.code, r.raw)
	}
	bot := n.browser("127.0.0.1")
	bot.bearer = r.str("token")

	v := n.dialWS(chatter)
	v.write(map[string]any{"type": "join", "room": "counted"})
	v.expect("joined")
	send := func(i int) {
		v.write(map[string]any{"type": "send", "text": fmt.Sprintf("message %d", i), "nonce": fmt.Sprint(i)})
		v.expect("sent")
	}
	send(0) // warm: the room and the sender's standing load on join and first use
	if r := bot.do("POST", "/api/rooms/counted/danmaku", map[string]string{"text": "bot warm"}); r.code != 201 {
		t.Fatalf("HTTP post: %d %s", r.code, r.raw)
	}

	var q queryCounter
	n.app.DB.Trace(q.saw)
	defer n.app.DB.Trace(nil)
	const msgs = 5
	for i := 1; i <= msgs; i++ {
		send(i)
	}
	ws := q.take()
	for i := 1; i <= msgs; i++ {
		if r := bot.do("POST", "/api/rooms/counted/danmaku", map[string]string{"text": fmt.Sprintf("bot %d", i)}); r.code != 201 {
			t.Fatalf("HTTP post: %d %s", r.code, r.raw)
		}
	}
	httpQ := q.take()
	t.Logf("queries before the insert: WebSocket %.1f per danmaku, HTTP (token) %.1f", float64(len(ws))/msgs, float64(len(httpQ))/msgs)
	// Before the chat context and the login cache: 8 over the WebSocket,
	// 12 over HTTP with a token.
	if len(ws)+len(httpQ) > 0 {
		t.Errorf("a warm room still queries before the insert:\n%s", strings.Join(append(ws, httpQ...), "\n"))
	}
}
