package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"confab/focus/store"
)

type conferenceListView struct {
	Conferences []conferenceRow
}

type conferenceRow struct {
	store.Conference
	Active bool
	People int
	URI    string
}

func (s *Server) conferenceList(w http.ResponseWriter, r *http.Request) {
	cs, err := s.d.Conferences.ListConferences(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := conferenceListView{}
	for _, c := range cs {
		row := conferenceRow{Conference: c, URI: s.d.Conferences.FocusURI(c)}
		if roster, ok := s.d.Live.Roster(c.ID); ok {
			row.Active, row.People = true, len(roster.Participants)
		}
		v.Conferences = append(v.Conferences, row)
	}
	s.render(w, r, http.StatusOK, "conferences", view{Title: "Conferences", Nav: "conferences", LoggedIn: true, Data: v})
}

type conferenceFormView struct {
	New        bool
	Conference store.Conference
	MaxMembers string // as typed, so a bad value is shown back
	Admissions []admissionChoice
	Fields     fieldErrors
	URI        string
}

type admissionChoice struct {
	Value store.Admission
	Label string
}

// admissionChoices explains each policy in words an IT person knows.
var admissionChoices = []admissionChoice{
	{store.AdmissionOpen, "Open: anyone who dials the number (and enters the PIN, if there is one)"},
	{store.AdmissionPIN, "PIN: everyone must enter the PIN or the moderator PIN"},
	{store.AdmissionLobby, "Lobby: callers wait until a presenter lets them in"},
	{store.AdmissionClosed, "Closed: only moderators (moderator PIN) get in"},
}

func (s *Server) renderConferenceForm(w http.ResponseWriter, r *http.Request, status int, v conferenceFormView, msg string) {
	v.Admissions = admissionChoices
	if v.MaxMembers == "" {
		v.MaxMembers = strconv.Itoa(v.Conference.MaxMembers)
	}
	title := "Conference " + v.Conference.Number
	if v.New {
		title = "New conference"
	} else {
		v.URI = s.d.Conferences.FocusURI(v.Conference)
	}
	s.render(w, r, status, "conference", view{Title: title, Nav: "conferences", LoggedIn: true, Data: v, Error: msg})
}

func (s *Server) conferenceNew(w http.ResponseWriter, r *http.Request) {
	s.renderConferenceForm(w, r, http.StatusOK, conferenceFormView{New: true, Conference: store.NewConference("")}, "")
}

// readConferenceForm applies the posted form to c and returns what is
// wrong with the fields the store does not check (numbers that are not).
func readConferenceForm(r *http.Request, c *store.Conference) (maxMembers string, fields fieldErrors) {
	fields = fieldErrors{}
	f := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	c.Number = f("number")
	c.Name = f("name")
	c.Organizer = f("organizer")
	c.PIN = f("pin")
	c.ModeratorPIN = f("moderator_pin")
	c.Admission = store.Admission(f("admission"))
	c.WaitForLeader = r.PostFormValue("wait_for_leader") == "on"
	c.EndWhenLeaderLeaves = r.PostFormValue("end_when_leader_leaves") == "on"
	c.Announcements = r.PostFormValue("announcements") == "on"
	maxMembers = f("max_members")
	if maxMembers == "" {
		c.MaxMembers = 0
	} else if n, err := strconv.Atoi(maxMembers); err != nil || n < 0 || n > 10000 {
		fields["max_members"] = "Enter a whole number from 0 (no limit) to 10000."
	} else {
		c.MaxMembers = n
	}
	return maxMembers, fields
}

// conferenceFields are the form fields a store error can be about, as the
// store's messages start ("moderator pin must be 4-12 digits"), longest
// first so that "moderator pin" is not taken for "pin".
var conferenceFields = []struct{ prefix, field string }{
	{"moderator pin", "moderator_pin"},
	{"conference number", "number"},
	{"number", "number"},
	{"pin", "pin"},
	{"name", "name"},
	{"organizer", "organizer"},
	{"admission", "admission"},
	{"max members", "max_members"},
}

// fieldOf finds the field a store error is about, and the part of its
// message that says what is wrong with it. The store wraps messages with
// context ("create conference 7001: conference number 7001: already
// exists"), so every ": "-separated tail is tried.
func fieldOf(err error, fields []struct{ prefix, field string }) (field, msg string) {
	full := userMessage(err)
	for tail := full; tail != ""; {
		low := strings.ToLower(tail)
		for _, f := range fields {
			if strings.HasPrefix(low, f.prefix) {
				return f.field, sentence(tail)
			}
		}
		_, rest, ok := strings.Cut(tail, ": ")
		if !ok {
			break
		}
		tail = rest
	}
	return "", full
}

// sentence makes a store message read as one: "conference number 7001:
// already exists" becomes "Conference number 7001 already exists."
func sentence(s string) string {
	s = strings.TrimSuffix(strings.ReplaceAll(s, ": "+store.ErrDuplicate.Error(), " "+store.ErrDuplicate.Error()), ".")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// storeFailed shows a store error beside its field, or above the form;
// it reports false for errors the admin did not cause.
func storeFailed(err error, fields fieldErrors, known []struct{ prefix, field string }) (string, bool) {
	if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrDuplicate) {
		return "", false
	}
	if f, msg := fieldOf(err, known); f != "" {
		fields[f] = msg
		return "", true
	}
	return userMessage(err), true
}

func (s *Server) conferenceCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	c := store.NewConference("")
	maxMembers, fields := readConferenceForm(r, &c)
	v := conferenceFormView{New: true, Conference: c, MaxMembers: maxMembers, Fields: fields}
	if len(fields) > 0 {
		// Say what else is wrong too, not one field per try.
		msg := ""
		if err := c.Validate(); err != nil {
			msg, _ = storeFailed(err, v.Fields, conferenceFields)
		}
		s.renderConferenceForm(w, r, http.StatusBadRequest, v, msg)
		return
	}
	created, err := s.d.Conferences.CreateConference(r.Context(), c)
	if err != nil {
		msg, ok := storeFailed(err, v.Fields, conferenceFields)
		if !ok {
			s.fail(w, r, err)
			return
		}
		s.renderConferenceForm(w, r, http.StatusBadRequest, v, msg)
		return
	}
	s.log.Info("conference created", "id", created.ID, "number", created.Number)
	redirect(w, r, "/conferences", "created")
}

// pathConference loads the conference named by {id}.
func (s *Server) pathConference(w http.ResponseWriter, r *http.Request) (store.Conference, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return store.Conference{}, false
	}
	c, err := s.d.Conferences.GetConference(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return store.Conference{}, false
	}
	if err != nil {
		s.fail(w, r, err)
		return store.Conference{}, false
	}
	return c, true
}

func (s *Server) conferenceEdit(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathConference(w, r)
	if !ok {
		return
	}
	s.renderConferenceForm(w, r, http.StatusOK, conferenceFormView{Conference: c}, "")
}

func (s *Server) conferenceUpdate(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathConference(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	maxMembers, fields := readConferenceForm(r, &c)
	v := conferenceFormView{Conference: c, MaxMembers: maxMembers, Fields: fields}
	if len(fields) > 0 {
		// Say what else is wrong too, not one field per try.
		msg := ""
		if err := c.Validate(); err != nil {
			msg, _ = storeFailed(err, v.Fields, conferenceFields)
		}
		s.renderConferenceForm(w, r, http.StatusBadRequest, v, msg)
		return
	}
	if _, err := s.d.Conferences.UpdateConference(r.Context(), c); err != nil {
		msg, ok := storeFailed(err, v.Fields, conferenceFields)
		if !ok {
			s.fail(w, r, err)
			return
		}
		s.renderConferenceForm(w, r, http.StatusBadRequest, v, msg)
		return
	}
	redirect(w, r, "/conferences", "saved")
}

func (s *Server) conferenceDelete(w http.ResponseWriter, r *http.Request) {
	c, ok := s.pathConference(w, r)
	if !ok {
		return
	}
	if err := s.d.Conferences.DeleteConference(r.Context(), c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	s.log.Info("conference deleted", "id", c.ID, "number", c.Number)
	redirect(w, r, "/conferences", "deleted")
}
