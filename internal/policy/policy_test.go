package policy

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/livehouse/livehouse/internal/httpjson"
)

// TestPolicyMatrix pins every role × every action. A change to who may do
// what must change this table, on purpose.
func TestPolicyMatrix(t *testing.T) {
	const owner, mod, viewer, streamer, admin = 1, 2, 3, 4, 5
	user := func(id int64, isAdmin, canStream bool) *User {
		return &User{ID: id, Username: fmt.Sprint(id), IsAdmin: isAdmin, CanStream: canStream, CreatedAt: time.Now()}
	}
	ch := func(isMod bool) ChannelRoles { return ChannelRoles{ChannelID: 9, OwnerID: owner, IsModerator: isMod} }
	actors := []struct {
		name  string
		p     Principal
		roles ChannelRoles
	}{
		{"anonymous", Principal{}, ch(false)},
		{"viewer", Principal{User: user(viewer, false, false), Via: "session"}, ch(false)},
		{"streamer elsewhere", Principal{User: user(streamer, false, true), Via: "session"}, ch(false)},
		{"moderator", Principal{User: user(mod, false, false), Via: "session"}, ch(true)},
		{"owner", Principal{User: user(owner, false, true), Via: "session"}, ch(false)},
		{"platform admin", Principal{User: user(admin, true, false), Via: "session"}, ch(false)},
		{"admin token", Principal{Via: "admin-token"}, ch(false)},
		{"muted viewer", Principal{User: user(viewer, false, false), Via: "session"}, ChannelRoles{ChannelID: 9, OwnerID: owner, Muted: true}},
		{"channel-banned viewer", Principal{User: user(viewer, false, false), Via: "session"}, ChannelRoles{ChannelID: 9, OwnerID: owner, Banned: true}},
		{"platform-banned viewer", Principal{User: user(viewer, false, false), Via: "session", PlatformBanned: true}, ch(false)},
		{"owner via chat token", Principal{User: user(owner, false, true), Via: "token", Scopes: []string{ScopeChatWrite}}, ch(false)},
		{"owner via manage token", Principal{User: user(owner, false, true), Via: "token", Scopes: []string{ScopeChannelManage}}, ch(false)},
		{"owner via spend token", Principal{User: user(owner, false, true), Via: "token", Scopes: []string{ScopeWalletSpend}}, ch(false)},
		{"owner via payout token", Principal{User: user(owner, false, true), Via: "token", Scopes: []string{ScopeChannelPayout}}, ch(false)},
	}
	// Y allowed, . denied.
	want := map[string]string{
		//                        watch chat report follow create manage moderate appoint admin acctManage acctRead spend payout
		"anonymous":              "Y . . . . . . . . . . . .",
		"viewer":                 "Y Y Y Y . . . . . Y Y Y .",
		"streamer elsewhere":     "Y Y Y Y Y . . . . Y Y Y .",
		"moderator":              "Y Y Y Y . . Y . . Y Y Y .",
		"owner":                  "Y Y Y Y Y Y Y Y . Y Y Y Y",
		"platform admin":         "Y Y Y Y Y Y Y Y Y Y Y Y Y",
		"admin token":            "Y . . . Y Y Y Y Y . . . Y",
		"muted viewer":           "Y . Y Y . . . . . Y Y Y .",
		"channel-banned viewer":  "Y . . . . . . . . Y Y . .",
		"platform-banned viewer": "Y . . . . . . . . Y Y . .",
		"owner via chat token":   "Y Y Y Y . . . . . . . . .",
		"owner via manage token": "Y . . . Y Y . Y . . . . .",
		"owner via spend token":  "Y . . . . . . . . . . Y .",
		"owner via payout token": "Y . . . . . . . . . . . Y",
	}
	actions := AllActions()
	for _, a := range actors {
		var got []byte
		for _, act := range actions {
			if Decide(a.p, act, a.roles, Settings{}) == nil {
				got = append(got, 'Y', ' ')
			} else {
				got = append(got, '.', ' ')
			}
		}
		if g := string(got[:len(got)-1]); g != want[a.name] {
			t.Errorf("%-24s got  %s\n%-24s want %s", a.name, g, "", want[a.name])
		}
	}
}

func TestOpenStreamingLetsAnyAccountCreateChannels(t *testing.T) {
	p := Principal{User: &User{ID: 3}, Via: "session"}
	if Decide(p, ActChannelCreate, ChannelRoles{}, Settings{}) == nil {
		t.Fatal("viewer created a channel with streaming closed")
	}
	if err := Decide(p, ActChannelCreate, ChannelRoles{}, Settings{OpenStreaming: true}); err != nil {
		t.Fatalf("open streaming: %v", err)
	}
}

func TestDeniedAnonymousAsksForLogin(t *testing.T) {
	d, ok := IsDenied(Decide(Principal{}, ActChatSend, ChannelRoles{}, Settings{}))
	if !ok || !d.Anonymous {
		t.Fatal("anonymous refusal should say to log in (401)")
	}
}

// TestRefusalsAnswerOverHTTP pins what a client reads for each refusal.
func TestRefusalsAnswerOverHTTP(t *testing.T) {
	viewer := Principal{User: &User{ID: 3}, Via: "session"}
	cases := []struct {
		err    error
		status int
		body   string
		retry  string
	}{
		{Decide(Principal{}, ActChatSend, ChannelRoles{}, Settings{}), 401, `{"code":"unauthorized","error":"log in first"}`, ""},
		{Decide(viewer, ActChatSend, ChannelRoles{ChannelID: 1, OwnerID: 2, Muted: true}, Settings{}), 403,
			`{"code":"forbidden","error":"you are muted in this channel","reason":"muted"}`, ""},
		{Decide(viewer, ActPlatformAdmin, ChannelRoles{}, Settings{}), 403, `{"code":"forbidden","error":"only platform admins may do this"}`, ""},
		{&RuleViolation{Code: "slow_mode", Msg: "slow mode: wait 2s", RetryAfter: 1500 * time.Millisecond}, 403,
			`{"code":"slow_mode","error":"slow mode: wait 2s"}`, "2"},
		{ErrChannelDisabled, 403, `{"code":"channel_disabled","error":"this channel has been disabled by the platform"}`, ""},
		{ErrNoChannel, 404, `{"code":"not_found","error":"channel not found"}`, ""},
		{RateSettings{WritesPerIP: -1}.Validate(), 400, `{"code":"bad_request","error":"each rate limit must be 0 (the default) to 100000"}`, ""},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		httpjson.Fail(rec, c.err)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != c.status || got != c.body || rec.Header().Get("Retry-After") != c.retry {
			t.Errorf("%v: %d %s %q; want %d %s %q", c.err, rec.Code, got, rec.Header().Get("Retry-After"), c.status, c.body, c.retry)
		}
	}
}
