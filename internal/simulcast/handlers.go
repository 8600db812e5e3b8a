package simulcast

import (
	"net/http"
	"strconv"

	"github.com/livehouse/livehouse/internal/channel"
	"github.com/livehouse/livehouse/internal/httpjson"
	"github.com/livehouse/livehouse/internal/policy"
)

// Routes adds the destinations API (owner and platform admins only).
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/channels/{slug}/destinations", s.list)
	mux.HandleFunc("POST /api/channels/{slug}/destinations", s.add)
	mux.HandleFunc("PATCH /api/channels/{slug}/destinations/{id}", s.update)
	mux.HandleFunc("DELETE /api/channels/{slug}/destinations/{id}", s.remove)
}

// view is a destination as the API shows it: the key masked.
type view struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Protocol  string `json:"protocol"`
	URL       string `json:"url"`
	Key       string `json:"key"` // "••••abcd", "••••" or "" (none)
	Enabled   bool   `json:"enabled"`
	CreatedAt int64  `json:"created_at"`
	State     State  `json:"state"`
}

func (s *Service) view(d Destination) view {
	v := view{ID: d.ID, Name: d.Name, Protocol: d.Protocol, URL: d.URL, Enabled: d.Enabled,
		CreatedAt: d.CreatedAt.UnixMilli(), State: s.StateOf(d.ID)}
	if d.HasKey {
		v.Key = "••••" + d.KeyHint
	}
	return v
}

// manage resolves the channel and checks the caller may manage it.
func (s *Service) manage(w http.ResponseWriter, r *http.Request) (channel.Channel, bool) {
	c, err := s.chans.Get(r.Context(), r.PathValue("slug"))
	if err == nil {
		_, err = s.auth.Authorize(r, policy.ActChannelManage, c.ID, c.OwnerID)
	}
	if err != nil {
		httpjson.Fail(w, err)
		return c, false
	}
	return c, true
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	c, ok := s.manage(w, r)
	if !ok {
		return
	}
	ds, err := s.store.list(r.Context(), c.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	out := make([]view, 0, len(ds))
	for _, d := range ds {
		out = append(out, s.view(d))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"destinations": out, "max": MaxDestinations})
}

type input struct {
	Name    *string `json:"name"`
	URL     *string `json:"url"`
	Key     *string `json:"key"`
	Enabled *bool   `json:"enabled"`
}

// apply checks in and sets it on d.
func (in input) apply(d *Destination) error {
	if in.Name != nil {
		name, err := checkName(*in.Name)
		if err != nil {
			return err
		}
		d.Name = name
	}
	if in.URL != nil {
		proto, err := parseDestURL(*in.URL)
		if err != nil {
			return err
		}
		d.URL, d.Protocol = trimmed(*in.URL), proto
	}
	if in.Key != nil {
		if err := checkKey(*in.Key); err != nil {
			return err
		}
	}
	if in.Enabled != nil {
		d.Enabled = *in.Enabled
	}
	return nil
}

func (s *Service) add(w http.ResponseWriter, r *http.Request) {
	c, ok := s.manage(w, r)
	if !ok {
		return
	}
	var in input
	if !httpjson.Read(w, r, &in) {
		return
	}
	if in.Name == nil {
		in.Name = new(string)
	}
	if in.URL == nil {
		in.URL = new(string)
	}
	d := Destination{ChannelID: c.ID, Enabled: true}
	if err := in.apply(&d); err != nil {
		httpjson.Fail(w, err)
		return
	}
	key := ""
	if in.Key != nil {
		key = *in.Key
	}
	d, err := s.store.add(r.Context(), d, key)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.changed(c.ID)
	httpjson.Write(w, http.StatusCreated, s.view(d))
}

func (s *Service) destination(w http.ResponseWriter, r *http.Request) (Destination, bool) {
	c, ok := s.manage(w, r)
	if !ok {
		return Destination{}, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		httpjson.Fail(w, errNoDest)
		return Destination{}, false
	}
	d, err := s.store.get(r.Context(), c.ID, id)
	if err != nil {
		httpjson.Fail(w, err)
		return d, false
	}
	return d, true
}

func (s *Service) update(w http.ResponseWriter, r *http.Request) {
	d, ok := s.destination(w, r)
	if !ok {
		return
	}
	var in input
	if !httpjson.Read(w, r, &in) {
		return
	}
	if err := in.apply(&d); err != nil {
		httpjson.Fail(w, err)
		return
	}
	if err := s.store.update(r.Context(), d, in.Key); err != nil {
		httpjson.Fail(w, err)
		return
	}
	d, err := s.store.get(r.Context(), d.ChannelID, d.ID)
	if err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.changed(d.ChannelID)
	httpjson.Write(w, http.StatusOK, s.view(d))
}

func (s *Service) remove(w http.ResponseWriter, r *http.Request) {
	d, ok := s.destination(w, r)
	if !ok {
		return
	}
	if err := s.store.remove(r.Context(), d.ChannelID, d.ID); err != nil {
		httpjson.Fail(w, err)
		return
	}
	s.changed(d.ChannelID)
	httpjson.Write(w, http.StatusOK, map[string]bool{"deleted": true})
}
