package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"confab/focus/httpapi"
	"confab/focus/store"
)

// sessionCookie holds the login session's secret. The __Host- prefix is
// only allowed on Secure cookies, and the page also runs on plain HTTP on
// loopback, so the name is plain.
const sessionCookie = "confab_session"

// adminUser is the one admin account the appliance has.
const adminUser = "admin"

var _ httpapi.RequestAuthenticator = (*Server)(nil)

type ctxKey int

const sessionKey ctxKey = 1

// AuthenticateRequest implements httpapi.RequestAuthenticator: the admin
// of a session cookie, or of an API token (Authorization: Bearer).
func (s *Server) AuthenticateRequest(r *http.Request) (string, bool, error) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		_, err := s.d.Accounts.CheckAPIToken(r.Context(), strings.TrimSpace(tok))
		if errors.Is(err, store.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return adminUser, true, nil
	}
	a, ok, err := s.session(r)
	return a.Username, ok, err
}

// session finds the request's login session.
func (s *Server) session(r *http.Request) (store.AdminSession, bool, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.AdminSession{}, false, nil
	}
	a, err := s.d.Accounts.AdminSession(r.Context(), c.Value)
	if errors.Is(err, store.ErrNotFound) {
		return store.AdminSession{}, false, nil
	}
	if err != nil {
		return store.AdminSession{}, false, err
	}
	return a, true, nil
}

// requireLogin sends a visitor without a session to the login page (or,
// on a box without an admin yet, to first-time setup).
func (s *Server) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok, err := s.session(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !ok {
			if r.URL.Path == "/events" {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			has, err := s.d.Accounts.HasAdmin(r.Context())
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if !has {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey, a)))
	})
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, secret string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    secret,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// startSession logs the admin in and sends the browser to the dashboard.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request) {
	secret, err := s.d.Accounts.CreateAdminSession(r.Context(), adminUser, s.sessionTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setCookie(w, r, secret, int(s.sessionTTL.Seconds()))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// fieldErrors maps a form field's name to what is wrong with it.
type fieldErrors map[string]string

type setupView struct {
	Open   bool // a setup token was printed and not used yet
	Fields fieldErrors
}

func (s *Server) setupForm(w http.ResponseWriter, r *http.Request) {
	has, err := s.d.Accounts.HasAdmin(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if has {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "setup", view{Title: "Set the admin password", Data: setupView{Open: s.setupOpen()}})
}

func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	has, err := s.d.Accounts.HasAdmin(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if has {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	addr := httpapi.ClientAddr(r)
	v := setupView{Open: s.setupOpen(), Fields: fieldErrors{}}
	if s.guard.Blocked(addr) {
		v.Fields["token"] = "Too many wrong attempts. Wait a minute and try again."
		s.render(w, r, http.StatusTooManyRequests, "setup", view{Title: "Set the admin password", Data: v})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	pw, again := r.PostFormValue("password"), r.PostFormValue("confirm")
	if msg := checkNewPassword(pw, again); msg != "" {
		v.Fields["password"] = msg
	}
	if len(v.Fields) == 0 && !s.takeSetupToken(token) {
		s.guard.Fail(addr)
		v.Fields["token"] = "This is not the setup token. Copy it from the confabd console (it is printed at start)."
	}
	if len(v.Fields) > 0 {
		s.render(w, r, http.StatusBadRequest, "setup", view{Title: "Set the admin password", Data: v})
		return
	}
	if err := s.d.Accounts.SetAdminPassword(r.Context(), adminUser, pw); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("first-time setup: admin password set", "from", addr)
	s.startSession(w, r)
}

// checkNewPassword says what is wrong with a new password, or "".
func checkNewPassword(pw, again string) string {
	switch {
	case len(pw) < 8:
		return "Use at least 8 characters."
	case len(pw) > 72:
		return "Use at most 72 bytes (longer passwords would be cut short)."
	case pw != again:
		return "The two passwords differ."
	}
	return ""
}

type loginView struct {
	Fields fieldErrors
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	has, err := s.d.Accounts.HasAdmin(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !has {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if _, ok, _ := s.session(r); ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", view{Title: "Log in", Data: loginView{}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	addr := httpapi.ClientAddr(r)
	v := loginView{Fields: fieldErrors{}}
	if s.guard.Blocked(addr) {
		v.Fields["password"] = "Too many wrong passwords. Wait a minute and try again."
		s.render(w, r, http.StatusTooManyRequests, "login", view{Title: "Log in", Data: v})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ok, err := s.d.Accounts.CheckAdminPassword(r.Context(), adminUser, r.PostFormValue("password"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.guard.Fail(addr)
		s.log.Warn("failed login", "from", addr)
		v.Fields["password"] = "Wrong password."
		s.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: v})
		return
	}
	s.log.Info("admin logged in", "from", addr)
	s.startSession(w, r)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.d.Accounts.DeleteAdminSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.setCookie(w, r, "", -1)
	redirect(w, r, "/login", "loggedout")
}

type accountView struct {
	Fields   fieldErrors
	Tokens   []store.APIToken
	NewToken string // the secret of a token just created, shown once
	NewName  string
}

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, http.StatusOK, accountView{})
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, v accountView) {
	toks, err := s.d.Accounts.ListAPITokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Tokens = toks
	s.render(w, r, status, "account", view{Title: "Account", Nav: "account", LoggedIn: true, Data: v})
}

func (s *Server) passwordChange(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	v := accountView{Fields: fieldErrors{}}
	addr := httpapi.ClientAddr(r)
	if s.guard.Blocked(addr) {
		v.Fields["current"] = "Too many wrong passwords. Wait a minute and try again."
		s.renderAccount(w, r, http.StatusTooManyRequests, v)
		return
	}
	ok, err := s.d.Accounts.CheckAdminPassword(r.Context(), adminUser, r.PostFormValue("current"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.guard.Fail(addr)
		v.Fields["current"] = "This is not the current password."
	}
	if msg := checkNewPassword(r.PostFormValue("password"), r.PostFormValue("confirm")); msg != "" {
		v.Fields["password"] = msg
	}
	if len(v.Fields) > 0 {
		s.renderAccount(w, r, http.StatusBadRequest, v)
		return
	}
	if err := s.d.Accounts.SetAdminPassword(r.Context(), adminUser, r.PostFormValue("password")); err != nil {
		s.fail(w, r, err)
		return
	}
	keep := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		keep = c.Value
	}
	if _, err := s.d.Accounts.DeleteOtherAdminSessions(r.Context(), adminUser, keep); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("admin password changed", "from", addr)
	redirect(w, r, "/account", "password")
}

func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name := r.PostFormValue("name")
	t, secret, err := s.d.Accounts.CreateAPIToken(r.Context(), name)
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrDuplicate) {
		s.renderAccount(w, r, http.StatusBadRequest, accountView{Fields: fieldErrors{"name": userMessage(err)}, NewName: name})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("API token created", "token", t.Name)
	// The secret is shown on this response only; it is not stored.
	s.renderAccount(w, r, http.StatusOK, accountView{NewToken: secret, NewName: t.Name})
}

func (s *Server) tokenDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if err := s.d.Accounts.DeleteAPIToken(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	redirect(w, r, "/account", "deleted")
}

// userMessage turns a store error into a sentence for the page: the
// store's messages name the field and the rule ("invalid: pin must be 4-12
// digits"); the sentinel's word in front only gets in the way.
func userMessage(err error) string {
	return sentence(strings.Replace(err.Error(), store.ErrInvalid.Error()+": ", "", 1))
}

// now is the server's clock, for pages that show ages.
func (s *Server) clock() time.Time { return s.now() }
