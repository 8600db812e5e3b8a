package filter

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"strconv"

	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Routes adds the term-list and settings API: the platform list and
// settings for admins; a channel's list for its owner and admins, readable
// by its moderators.
func (e *Engine) Routes(mux *http.ServeMux) {
	in := e.d.Accounts.InChannel
	mux.HandleFunc("GET /api/admin/moderation/terms", e.admin(e.listPlatformTerms))
	mux.HandleFunc("POST /api/admin/moderation/terms", e.admin(e.addPlatformTerm))
	mux.HandleFunc("DELETE /api/admin/moderation/terms/{id}", e.admin(e.deletePlatformTerm))
	mux.HandleFunc("GET /api/admin/moderation/settings", e.admin(e.getSettings))
	mux.HandleFunc("PUT /api/admin/moderation/settings", e.admin(e.putSettings))
	mux.HandleFunc("GET /api/channels/{slug}/moderation/terms", in(policy.ActChannelModerate, e.listChannelTerms))
	mux.HandleFunc("POST /api/channels/{slug}/moderation/terms", in(policy.ActChannelManage, e.addChannelTerm))
	mux.HandleFunc("DELETE /api/channels/{slug}/moderation/terms/{id}", in(policy.ActChannelManage, e.deleteChannelTerm))
}

func (e *Engine) admin(h func(http.ResponseWriter, *http.Request, policy.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := e.d.Accounts.Authorize(r, policy.ActPlatformAdmin, 0, 0)
		if err != nil {
			httpjson.Fail(w, err)
			return
		}
		h(w, r, p)
	}
}

func (e *Engine) writeTerms(w http.ResponseWriter, r *http.Request, channelID int64) {
	terms, err := e.st.terms(r.Context(), channelID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	if terms == nil {
		terms = []Term{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"terms": terms})
}

func (e *Engine) addTerm(w http.ResponseWriter, r *http.Request, channelID, by int64) {
	var t Term
	if !httpjson.Read(w, r, &t) {
		return
	}
	t.ID, t.ChannelID = 0, channelID
	if err := validTerm(&t); err != nil {
		httpjson.Fail(w, err)
		return
	}
	t, err := e.st.addTerm(r.Context(), t, by)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	e.announce("terms")
	httpjson.Write(w, http.StatusCreated, t)
}

func (e *Engine) deleteTerm(w http.ResponseWriter, r *http.Request, channelID int64) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		httpjson.Fail(w, httpjson.BadRequest("bad_term_id", "the term id must be a positive whole number"))
		return
	}
	if err := e.st.deleteTerm(r.Context(), channelID, id); err != nil {
		httpjson.Fail(w, err)
		return
	}
	e.announce("terms")
	httpjson.Write(w, http.StatusOK, map[string]any{"deleted": id})
}

func (e *Engine) listPlatformTerms(w http.ResponseWriter, r *http.Request, _ policy.Principal) {
	e.writeTerms(w, r, 0)
}
func (e *Engine) addPlatformTerm(w http.ResponseWriter, r *http.Request, p policy.Principal) {
	e.addTerm(w, r, 0, p.UserID())
}
func (e *Engine) deletePlatformTerm(w http.ResponseWriter, r *http.Request, _ policy.Principal) {
	e.deleteTerm(w, r, 0)
}
func (e *Engine) listChannelTerms(w http.ResponseWriter, r *http.Request, ch policy.Channel, _ policy.Principal) {
	e.writeTerms(w, r, ch.ID)
}
func (e *Engine) addChannelTerm(w http.ResponseWriter, r *http.Request, ch policy.Channel, p policy.Principal) {
	e.addTerm(w, r, ch.ID, p.UserID())
}
func (e *Engine) deleteChannelTerm(w http.ResponseWriter, r *http.Request, ch policy.Channel, _ policy.Principal) {
	e.deleteTerm(w, r, ch.ID)
}

// Settings are the platform-wide filter settings.
type Settings struct {
	Floor int `json:"floor"` // minimum strictness of every channel, 0–4
}

func (e *Engine) getSettings(w http.ResponseWriter, r *http.Request, _ policy.Principal) {
	f, err := e.st.floor(r.Context())
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, Settings{Floor: f})
}

func (e *Engine) putSettings(w http.ResponseWriter, r *http.Request, _ policy.Principal) {
	var s Settings
	if !httpjson.Read(w, r, &s) {
		return
	}
	if err := e.SetFloor(r.Context(), s.Floor); err != nil {
		httpjson.Fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

// SetFloor stores the platform floor and tells every node.
func (e *Engine) SetFloor(ctx context.Context, floor int) error {
	if floor < 0 || floor > 4 {
		return httpjson.BadRequest("bad_floor", "floor must be 0 (off) to 4 (strict)")
	}
	if err := e.st.setSetting(ctx, "floor", strconv.Itoa(floor)); err != nil {
		return err
	}
	e.announce("settings")
	return nil
}

// AddTerms adds terms to the lists (skipping ones already there) and
// tells every node: imports and the CLI.
func (e *Engine) AddTerms(ctx context.Context, terms []Term, by int64) error {
	for i := range terms {
		if err := validTerm(&terms[i]); err != nil {
			return fmt.Errorf("term %q: %w", terms[i].Term, err)
		}
	}
	if err := e.st.addTerms(ctx, terms, by); err != nil {
		return err
	}
	e.announce("terms")
	return nil
}

// Terms lists a channel's terms (0: the platform's).
func (e *Engine) Terms(ctx context.Context, channelID int64) ([]Term, error) {
	return e.st.terms(ctx, channelID)
}

// Feedback stores a labelled sample from a moderator's decision for the
// next training run.
func (e *Engine) Feedback(ctx context.Context, text string, offensive bool, source string) error {
	switch source {
	case "deleted", "approved", "appeal_upheld":
	default:
		return fmt.Errorf("feedback source %q: want deleted, approved or appeal_upheld", source)
	}
	if text == "" {
		return nil
	}
	return e.st.addSample(ctx, Sample{Text: text, Offensive: offensive, Source: source})
}

//go:embed model/default.lhm.gz
var defaultModel []byte

// loadModel is the newest trained model in the store, else the one
// shipped in the binary.
func (e *Engine) loadModel(ctx context.Context) (*Model, error) {
	version, data, err := e.st.latestModel(ctx)
	if err != nil {
		return nil, err
	}
	if version != "" {
		if cur := e.snap.Load(); cur != nil && cur.model != nil && cur.model.Version == version {
			return cur.model, nil
		}
		m, err := decodeString(data)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", version, err)
		}
		m.Version = version
		return m, nil
	}
	return DefaultModel()
}

// DefaultModel is the model shipped in the binary (trained on COLD
// train+dev with seed 1).
func DefaultModel() (*Model, error) {
	return DecodeModel(bytes.NewReader(defaultModel))
}
