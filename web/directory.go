package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"confab/focus/sipfront"
	"confab/focus/store"
)

// Phones are the SIP users: desk phones and softphones that register to
// the box with a username and password (HTTP Digest). Trunks are the
// office's connections to a telephone provider or PBX.

type phoneRow struct {
	store.User
	Registrations []store.Registration
}

type phonesView struct {
	Phones []phoneRow
	Realm  string
	Form   phoneForm
	Fields fieldErrors
}

type phoneForm struct {
	Username, DisplayName string
}

func (s *Server) renderPhones(w http.ResponseWriter, r *http.Request, status int, v phonesView, msg string) {
	users, err := s.d.Directory.ListUsers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.clock()
	for _, u := range users {
		regs, err := s.d.Directory.ActiveRegistrations(r.Context(), u.Username, now)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Phones = append(v.Phones, phoneRow{User: u, Registrations: regs})
	}
	v.Realm = s.d.Runtime.Domain
	s.render(w, r, status, "phones", view{Title: "Phones", Nav: "phones", LoggedIn: true, Data: v, Error: msg})
}

func (s *Server) phones(w http.ResponseWriter, r *http.Request) {
	s.renderPhones(w, r, http.StatusOK, phonesView{}, "")
}

var phoneFields = []struct{ prefix, field string }{
	{"username", "username"},
	{"display name", "display_name"},
	{"password", "password"},
}

func (s *Server) phoneCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	form := phoneForm{Username: strings.TrimSpace(r.PostFormValue("username")),
		DisplayName: strings.TrimSpace(r.PostFormValue("display_name"))}
	v := phonesView{Form: form, Fields: fieldErrors{}}
	pw := r.PostFormValue("password")
	if len(pw) < 8 {
		// Phones keep their password in a menu anyone can read; a short
		// one is guessed from the network in minutes.
		v.Fields["password"] = "Use at least 8 characters."
		s.renderPhones(w, r, http.StatusBadRequest, v, "")
		return
	}
	_, err := s.d.Directory.CreateUser(r.Context(), form.Username, form.DisplayName, s.d.Runtime.Domain, pw)
	if err != nil {
		msg, ok := storeFailed(err, v.Fields, phoneFields)
		if !ok {
			s.fail(w, r, err)
			return
		}
		s.renderPhones(w, r, http.StatusBadRequest, v, msg)
		return
	}
	s.log.Info("phone account created", "username", form.Username)
	redirect(w, r, "/phones", "created")
}

func (s *Server) phonePassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name := r.PathValue("name")
	pw := r.PostFormValue("password")
	if len(pw) < 8 {
		s.renderPhones(w, r, http.StatusBadRequest, phonesView{}, fmt.Sprintf("The new password of %s must have at least 8 characters.", name))
		return
	}
	err := s.d.Directory.SetUserPassword(r.Context(), name, pw)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/phones", "saved")
}

func (s *Server) phoneDelete(w http.ResponseWriter, r *http.Request) {
	err := s.d.Directory.DeleteUser(r.Context(), r.PathValue("name"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/phones", "deleted")
}

type trunksView struct {
	Trunks []store.Trunk
	// Registration is each trunk's outbound registration, by name.
	Registration map[string]*sipfront.OutboundState
}

func (s *Server) trunks(w http.ResponseWriter, r *http.Request) {
	ts, err := s.d.Directory.ListTrunks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := trunksView{Trunks: ts}
	if s.d.Registrations != nil {
		v.Registration = make(map[string]*sipfront.OutboundState)
		for name, st := range s.d.Registrations() {
			v.Registration[name] = &st
		}
	}
	s.render(w, r, http.StatusOK, "trunks", view{Title: "Trunks", Nav: "trunks", LoggedIn: true, Data: v})
}

// trunkForm is a trunk as the form shows it: lists as lines of text.
type trunkForm struct {
	ID                                      int64
	Name, Peers, Username                   string
	OutboundRegistrar, OutboundUsername     string
	OutboundExpiry, DIDs                    string
	HasPassword, HasOutboundPassword, IsNew bool
}

type trunkFormView struct {
	Form   trunkForm
	Fields fieldErrors
}

func formOfTrunk(t store.Trunk) trunkForm {
	var dids []string
	for _, d := range t.DIDs {
		if d.Conference == "" {
			dids = append(dids, d.Number)
		} else {
			dids = append(dids, d.Number+" = "+d.Conference)
		}
	}
	f := trunkForm{ID: t.ID, Name: t.Name, Peers: strings.Join(t.Peers, "\n"), Username: t.Username,
		OutboundRegistrar: t.OutboundRegistrar, OutboundUsername: t.OutboundUsername, DIDs: strings.Join(dids, "\n"),
		HasPassword: t.Password != "", HasOutboundPassword: t.OutboundPassword != ""}
	if t.OutboundExpiry > 0 {
		f.OutboundExpiry = strconv.Itoa(int(t.OutboundExpiry / time.Second))
	}
	return f
}

func lines(s string) []string {
	var out []string
	for l := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readTrunkForm applies the posted form to t. A password field left empty
// keeps the stored password, so that editing a trunk does not need it
// typed again.
func readTrunkForm(r *http.Request, t *store.Trunk) (trunkForm, fieldErrors) {
	fields := fieldErrors{}
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	t.Name = f("name")
	t.Peers = lines(r.PostFormValue("peers"))
	t.Username = f("username")
	if pw := r.PostFormValue("password"); pw != "" {
		t.Password = pw
	}
	if r.PostFormValue("clear_password") == "on" {
		t.Password = ""
	}
	t.OutboundRegistrar = f("outbound_registrar")
	t.OutboundUsername = f("outbound_username")
	if pw := r.PostFormValue("outbound_password"); pw != "" {
		t.OutboundPassword = pw
	}
	if t.OutboundRegistrar == "" {
		t.OutboundPassword = ""
	}
	t.OutboundExpiry = 0
	if e := f("outbound_expiry"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 60 || n > 86400 {
			fields["outbound_expiry"] = "Enter seconds from 60 to 86400, or leave empty."
		} else {
			t.OutboundExpiry = time.Duration(n) * time.Second
		}
	}
	t.DIDs = nil
	for _, l := range lines(r.PostFormValue("dids")) {
		num, conf, _ := strings.Cut(l, "=")
		t.DIDs = append(t.DIDs, store.DID{Number: strings.TrimSpace(num), Conference: strings.TrimSpace(conf)})
	}
	form := formOfTrunk(*t)
	form.OutboundExpiry = f("outbound_expiry")
	form.DIDs = r.PostFormValue("dids")
	form.Peers = r.PostFormValue("peers")
	return form, fields
}

var trunkFields = []struct{ prefix, field string }{
	{"trunk name", "name"},
	{"peer", "peers"},
	{"username", "username"},
	{"password", "password"},
	{"outbound registrar", "outbound_registrar"},
	{"outbound username", "outbound_username"},
	{"outbound password", "outbound_password"},
	{"outbound expiry", "outbound_expiry"},
	{"outbound registration", "outbound_registrar"},
	{"did", "dids"},
	{"conference number of did", "dids"},
}

func (s *Server) renderTrunkForm(w http.ResponseWriter, r *http.Request, status int, v trunkFormView, msg string) {
	title := "Trunk " + v.Form.Name
	if v.Form.IsNew {
		title = "New trunk"
	}
	s.render(w, r, status, "trunk", view{Title: title, Nav: "trunks", LoggedIn: true, Data: v, Error: msg})
}

func (s *Server) trunkNew(w http.ResponseWriter, r *http.Request) {
	s.renderTrunkForm(w, r, http.StatusOK, trunkFormView{Form: trunkForm{IsNew: true}}, "")
}

func (s *Server) trunkCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var t store.Trunk
	form, fields := readTrunkForm(r, &t)
	form.IsNew = true
	s.saveTrunk(w, r, t, trunkFormView{Form: form, Fields: fields})
}

func (s *Server) saveTrunk(w http.ResponseWriter, r *http.Request, t store.Trunk, v trunkFormView) {
	if len(v.Fields) > 0 {
		s.renderTrunkForm(w, r, http.StatusBadRequest, v, "")
		return
	}
	var err error
	if v.Form.IsNew {
		_, err = s.d.Directory.CreateTrunk(r.Context(), t)
	} else {
		_, err = s.d.Directory.UpdateTrunk(r.Context(), t)
	}
	if err != nil {
		msg, ok := storeFailed(err, v.Fields, trunkFields)
		if !ok {
			s.fail(w, r, err)
			return
		}
		s.renderTrunkForm(w, r, http.StatusBadRequest, v, msg)
		return
	}
	s.log.Info("trunk saved", "trunk", t.Name)
	redirect(w, r, "/trunks", "saved")
}

func (s *Server) pathTrunk(w http.ResponseWriter, r *http.Request) (store.Trunk, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return store.Trunk{}, false
	}
	t, err := s.d.Directory.GetTrunk(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return store.Trunk{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return store.Trunk{}, false
	}
	return t, true
}

func (s *Server) trunkEdit(w http.ResponseWriter, r *http.Request) {
	t, ok := s.pathTrunk(w, r)
	if !ok {
		return
	}
	s.renderTrunkForm(w, r, http.StatusOK, trunkFormView{Form: formOfTrunk(t)}, "")
}

func (s *Server) trunkUpdate(w http.ResponseWriter, r *http.Request) {
	t, ok := s.pathTrunk(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	form, fields := readTrunkForm(r, &t)
	s.saveTrunk(w, r, t, trunkFormView{Form: form, Fields: fields})
}

func (s *Server) trunkDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if err := s.d.Directory.DeleteTrunk(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/trunks", "deleted")
}
