package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"confab/focus/store"
)

// The directory: the SIP users (desk phones and softphones that register
// and authenticate with digest) and the SIP trunks (recognised by peer
// address or by their own credentials, with their DIDs routed to
// conferences).
//
//	POST   /api/v1/users          {"username","display_name","password"}
//	GET    /api/v1/users
//	DELETE /api/v1/users/{name}   (its registrations go with it)
//	POST   /api/v1/trunks         {"name","peers":[...],"dids":[{"number","conference"}],"username","password"}
//	GET    /api/v1/trunks
//	DELETE /api/v1/trunks/{id}
//
// Secrets go in and never come out: a user's password is kept only as its
// digest hashes (HA1), and a trunk's password is not shown.

// Directory is what the API needs of the user and trunk directory;
// *store.Store satisfies it.
type Directory interface {
	CreateUser(ctx context.Context, username, displayName, realm, password string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	DeleteUser(ctx context.Context, username string) error
	CreateTrunk(ctx context.Context, t store.Trunk) (store.Trunk, error)
	ListTrunks(ctx context.Context) ([]store.Trunk, error)
	DeleteTrunk(ctx context.Context, id int64) error
}

var _ Directory = (*store.Store)(nil)

// directory is the API's view of the Directory and the realm users are
// created in.
type directory struct {
	d     Directory
	realm string
}

// WithDirectory serves /api/v1/users and /api/v1/trunks from d. Users are
// created in realm, which must be the digest realm the SIP front challenges
// with (its SIP domain): a phone's credentials are hashed with it (RFC 3261
// §22.1) and do not verify in any other. Without this option those paths
// are not found.
func WithDirectory(d Directory, realm string) Option {
	return func(a *API) { a.dir = &directory{d: d, realm: realm} }
}

// routeDirectory adds the directory's routes, if there is a directory.
func (a *API) routeDirectory(mux *http.ServeMux) {
	if a.dir == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/users", a.listUsers)
	mux.HandleFunc("POST /api/v1/users", a.createUser)
	mux.HandleFunc("DELETE /api/v1/users/{name}", a.deleteUser)
	mux.HandleFunc("GET /api/v1/trunks", a.listTrunks)
	mux.HandleFunc("POST /api/v1/trunks", a.createTrunk)
	mux.HandleFunc("DELETE /api/v1/trunks/{id}", a.deleteTrunk)
}

// userJSON is a SIP user on the wire.
type userJSON struct {
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Realm       string    `json:"realm"`
	CreatedAt   time.Time `json:"created_at"`
}

type userInput struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Password    string `json:"password"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{Username: u.Username, DisplayName: u.DisplayName, Realm: u.Realm, CreatedAt: u.CreatedAt}
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.dir.d.ListUsers(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	var in userInput
	if err := decode(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if a.dir.realm == "" {
		a.fail(w, errors.New("no SIP realm is configured for phone accounts"))
		return
	}
	// The password is taken as typed: spaces may be part of it.
	u, err := a.dir.d.CreateUser(r.Context(), strings.TrimSpace(in.Username), strings.TrimSpace(in.DisplayName),
		a.dir.realm, in.Password)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("SIP user created", "username", u.Username)
	w.Header().Set("Location", "/api/v1/users/"+u.Username)
	writeJSON(w, http.StatusCreated, toUserJSON(u))
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := a.dir.d.DeleteUser(r.Context(), name); err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("SIP user deleted", "username", name)
	w.WriteHeader(http.StatusNoContent)
}

// didJSON routes a number the trunk delivers; an empty conference means
// the caller is asked for the conference number.
type didJSON struct {
	Number     string `json:"number"`
	Conference string `json:"conference"`
}

// trunkJSON is a SIP trunk on the wire, without its password.
type trunkJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Peers       []string  `json:"peers"`
	DIDs        []didJSON `json:"dids"`
	Username    string    `json:"username"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

type trunkInput struct {
	Name     string    `json:"name"`
	Peers    []string  `json:"peers"`
	DIDs     []didJSON `json:"dids"`
	Username string    `json:"username"`
	Password string    `json:"password"`
}

func toTrunkJSON(t store.Trunk) trunkJSON {
	j := trunkJSON{ID: t.ID, Name: t.Name, Peers: t.Peers, DIDs: make([]didJSON, 0, len(t.DIDs)),
		Username: t.Username, HasPassword: t.Password != "", CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if j.Peers == nil {
		j.Peers = []string{}
	}
	for _, d := range t.DIDs {
		j.DIDs = append(j.DIDs, didJSON(d))
	}
	return j
}

func (a *API) listTrunks(w http.ResponseWriter, r *http.Request) {
	ts, err := a.dir.d.ListTrunks(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	out := make([]trunkJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toTrunkJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) createTrunk(w http.ResponseWriter, r *http.Request) {
	var in trunkInput
	if err := decode(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	t := store.Trunk{Name: strings.TrimSpace(in.Name), Username: strings.TrimSpace(in.Username), Password: in.Password}
	for _, p := range in.Peers {
		t.Peers = append(t.Peers, strings.TrimSpace(p))
	}
	for _, d := range in.DIDs {
		t.DIDs = append(t.DIDs, store.DID{Number: strings.TrimSpace(d.Number), Conference: strings.TrimSpace(d.Conference)})
	}
	t, err := a.dir.d.CreateTrunk(r.Context(), t)
	if err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("SIP trunk created", "id", t.ID, "name", t.Name, "peers", len(t.Peers), "dids", len(t.DIDs))
	w.Header().Set("Location", fmt.Sprintf("/api/v1/trunks/%d", t.ID))
	writeJSON(w, http.StatusCreated, toTrunkJSON(t))
}

func (a *API) deleteTrunk(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("trunk id %q is not a number", raw))
		return
	}
	if err := a.dir.d.DeleteTrunk(r.Context(), id); err != nil {
		a.fail(w, err)
		return
	}
	a.log.Info("SIP trunk deleted", "id", id)
	w.WriteHeader(http.StatusNoContent)
}
