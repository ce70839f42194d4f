// Package httpapi is the JSON API under /api/v1 that the web page,
// confabctl and scripts use. It is a client of the Focus Factory and the
// Focus like any other: conference changes go through the Factory, live
// commands through the Focus with the admin's privileges.
//
// Authentication (auth.go): the web page's login session cookie, an API
// token created on the page (Authorization: Bearer), or HTTP Basic with the
// admin account (user "admin") for scripts and confabctl. Nothing changes
// state on GET.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"confab/focus/store"
)

// Conferences is what the API needs from the Focus Factory.
type Conferences interface {
	CreateConference(ctx context.Context, c store.Conference) (store.Conference, error)
	UpdateConference(ctx context.Context, c store.Conference) (store.Conference, error)
	DeleteConference(ctx context.Context, id int64) error
	GetConference(ctx context.Context, id int64) (store.Conference, error)
	ListConferences(ctx context.Context) ([]store.Conference, error)
	FocusURI(c store.Conference) string
}

// Live is what the API needs of active conferences: their rosters and the
// admin's commands, each privilege-checked by the Focus.
type Live interface {
	// Roster returns the live participants, or ok false if the conference is not active.
	Roster(confID int64) (Roster, bool)
	// Command runs an admin command on a conference (member "" for
	// conference-wide commands: lock, unlock, mute-all, unmute-all, end).
	Command(ctx context.Context, confID int64, member, command string) error
}

// Roster is a conference's live state.
type Roster struct {
	Locked       bool          `json:"locked"`
	Participants []Participant `json:"participants"`
}

// Participant is one member as the API shows it.
type Participant struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URI         string    `json:"uri"`
	Role        string    `json:"role"`
	State       string    `json:"state"`
	Muted       bool      `json:"muted"`
	Deaf        bool      `json:"deaf"`
	Talking     bool      `json:"talking"`
	Codec       string    `json:"codec"`
	JoinedAt    time.Time `json:"joined_at"`
	LossPercent float64   `json:"loss_percent"`
	JitterMs    float64   `json:"jitter_ms"`
	MOS         float64   `json:"mos"`
}

// Errors the Live implementation returns for the API to map.
var (
	ErrNotActive     = errors.New("conference is not active")
	ErrUnknownMember = errors.New("no such participant")
	ErrBadCommand    = errors.New("unknown command")
)

// API serves /api/v1.
type API struct {
	confs Conferences
	live  Live
	auth  Authenticator
	log   *slog.Logger
	// errMap maps errors of the layers below to HTTP status codes.
	errMap []errStatus
	// sessions recognises the web page's sessions and API tokens; nil
	// leaves only Basic auth.
	sessions RequestAuthenticator
	guard    *LoginGuard
	// dir serves the users and trunks (directory.go); nil leaves them out.
	dir *directory
}

type errStatus struct {
	err    error
	status int
}

// Option configures the API.
type Option func(*API)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *API) { a.log = l } }

// WithErrorStatus maps an error (matched with errors.Is) to an HTTP status.
func WithErrorStatus(err error, status int) Option {
	return func(a *API) { a.errMap = append(a.errMap, errStatus{err, status}) }
}

// New makes the API.
func New(confs Conferences, live Live, auth Authenticator, opts ...Option) *API {
	a := &API{confs: confs, live: live, auth: auth, log: slog.Default(), guard: NewLoginGuard(10, time.Minute, time.Now)}
	a.errMap = []errStatus{
		{store.ErrInvalid, http.StatusBadRequest},
		{store.ErrDuplicate, http.StatusConflict},
		{store.ErrNotFound, http.StatusNotFound},
		{ErrNotActive, http.StatusConflict},
		{ErrUnknownMember, http.StatusNotFound},
		{ErrBadCommand, http.StatusNotFound},
	}
	for _, o := range opts {
		o(a)
	}
	a.log = a.log.With("component", "httpapi")
	return a
}

// Handler returns the API's routes, mounted at /api/v1/.
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/conferences", a.list)
	mux.HandleFunc("POST /api/v1/conferences", a.create)
	mux.HandleFunc("GET /api/v1/conferences/{id}", a.get)
	mux.HandleFunc("PATCH /api/v1/conferences/{id}", a.update)
	mux.HandleFunc("PUT /api/v1/conferences/{id}", a.update)
	mux.HandleFunc("DELETE /api/v1/conferences/{id}", a.delete)
	mux.HandleFunc("POST /api/v1/conferences/{id}/{command}", a.command)
	mux.HandleFunc("POST /api/v1/conferences/{id}/participants/{pid}/{command}", a.command)
	a.routeDirectory(mux)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return a.Authenticate(mux)
}

// conferenceJSON is a conference on the wire.
type conferenceJSON struct {
	ID                  int64      `json:"id"`
	FocusID             string     `json:"focus_id"`
	FocusURI            string     `json:"focus_uri"`
	Number              string     `json:"number"`
	Name                string     `json:"name"`
	Subject             string     `json:"subject"`
	Organizer           string     `json:"organizer"`
	PIN                 string     `json:"pin"`
	ModeratorPIN        string     `json:"moderator_pin"`
	Admission           string     `json:"admission"`
	Locked              bool       `json:"locked"`
	MaxMembers          int        `json:"max_members"`
	WaitForLeader       bool       `json:"wait_for_leader"`
	EndWhenLeaderLeaves bool       `json:"end_when_leader_leaves"`
	Announcements       bool       `json:"announcements"`
	Expiry              *time.Time `json:"expiry,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	Active              bool       `json:"active"`
	Roster              *Roster    `json:"roster,omitempty"`
}

// conferenceInput is what a client may set; absent fields keep their
// current (or default) value.
type conferenceInput struct {
	Number              *string    `json:"number"`
	Name                *string    `json:"name"`
	Subject             *string    `json:"subject"`
	Organizer           *string    `json:"organizer"`
	PIN                 *string    `json:"pin"`
	ModeratorPIN        *string    `json:"moderator_pin"`
	Admission           *string    `json:"admission"`
	Locked              *bool      `json:"locked"`
	MaxMembers          *int       `json:"max_members"`
	WaitForLeader       *bool      `json:"wait_for_leader"`
	EndWhenLeaderLeaves *bool      `json:"end_when_leader_leaves"`
	Announcements       *bool      `json:"announcements"`
	Expiry              *time.Time `json:"expiry"`
	FocusID             *string    `json:"focus_id"`
}

func (in conferenceInput) apply(c *store.Conference) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&c.Number, in.Number)
	set(&c.Name, in.Name)
	set(&c.Subject, in.Subject)
	set(&c.Organizer, in.Organizer)
	set(&c.PIN, in.PIN)
	set(&c.ModeratorPIN, in.ModeratorPIN)
	set(&c.FocusID, in.FocusID)
	if in.Admission != nil {
		c.Admission = store.Admission(strings.TrimSpace(*in.Admission))
	}
	setB := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setB(&c.Locked, in.Locked)
	setB(&c.WaitForLeader, in.WaitForLeader)
	setB(&c.EndWhenLeaderLeaves, in.EndWhenLeaderLeaves)
	setB(&c.Announcements, in.Announcements)
	if in.MaxMembers != nil {
		c.MaxMembers = *in.MaxMembers
	}
	if in.Expiry != nil {
		e := *in.Expiry
		c.Expiry = &e
	}
}

func (a *API) toJSON(c store.Conference, withRoster bool) conferenceJSON {
	j := conferenceJSON{ID: c.ID, FocusID: c.FocusID, FocusURI: a.confs.FocusURI(c), Number: c.Number, Name: c.Name,
		Subject: c.Subject, Organizer: c.Organizer, PIN: c.PIN, ModeratorPIN: c.ModeratorPIN, Admission: string(c.Admission),
		Locked: c.Locked, MaxMembers: c.MaxMembers, WaitForLeader: c.WaitForLeader, EndWhenLeaderLeaves: c.EndWhenLeaderLeaves,
		Announcements: c.Announcements, Expiry: c.Expiry, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if r, ok := a.live.Roster(c.ID); ok {
		j.Active = true
		j.Locked = r.Locked
		if withRoster {
			j.Roster = &r
		}
	}
	return j
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	cs, err := a.confs.ListConferences(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]conferenceJSON, 0, len(cs))
	for _, c := range cs {
		out = append(out, a.toJSON(c, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	var in conferenceInput
	if err := decode(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Number == nil {
		writeError(w, http.StatusBadRequest, "number is required")
		return
	}
	c := store.NewConference(*in.Number)
	in.apply(&c)
	c, err := a.confs.CreateConference(r.Context(), c)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("conference created", "id", c.ID, "number", c.Number)
	w.Header().Set("Location", fmt.Sprintf("/api/v1/conferences/%d", c.ID))
	writeJSON(w, http.StatusCreated, a.toJSON(c, false))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conference(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, a.toJSON(c, true))
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conference(w, r)
	if !ok {
		return
	}
	var in conferenceInput
	if err := decode(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	in.apply(&c)
	c, err := a.confs.UpdateConference(r.Context(), c)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.toJSON(c, false))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conference(w, r)
	if !ok {
		return
	}
	if err := a.confs.DeleteConference(r.Context(), c.ID); err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("conference deleted", "id", c.ID, "number", c.Number)
	w.WriteHeader(http.StatusNoContent)
}

// command runs a conference command, or a participant command when the
// path names a participant ({pid}).
func (a *API) command(w http.ResponseWriter, r *http.Request) {
	c, ok := a.conference(w, r)
	if !ok {
		return
	}
	if err := a.live.Command(r.Context(), c.ID, r.PathValue("pid"), r.PathValue("command")); err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.toJSON(c, true))
}

// conference finds the conference named by {id}: a numeric id, or a dial-in
// number prefixed with "n:" is not needed since ids and numbers are both digits;
// we try the id first, then the number.
func (a *API) conference(w http.ResponseWriter, r *http.Request) (store.Conference, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("conference id %q is not a number", raw))
		return store.Conference{}, false
	}
	c, err := a.confs.GetConference(r.Context(), id)
	if err != nil {
		a.fail(w, err)
		return store.Conference{}, false
	}
	return c, true
}

func (a *API) fail(w http.ResponseWriter, err error) {
	for _, m := range a.errMap {
		if errors.Is(err, m.err) {
			writeError(w, m.status, err.Error())
			return
		}
	}
	a.log.Error("request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "internal error: "+err.Error())
}

// decode reads a JSON body strictly: unknown fields and trailing data are errors.
func decode(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, 64<<10)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty; want a JSON object")
		}
		return fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return errors.New("bad JSON: trailing data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
