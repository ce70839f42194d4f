package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/store"
)

// Live updates: the dashboard's script opens /events and replaces a
// conference's card with each "card" event. Events from the Focus Factory
// mark a conference changed; changed cards go out at most every
// liveCoalesce, so a burst of talking events costs one render, and every
// card goes out again every liveRefresh for the quality figures, which
// change without events, and for any event a slow page missed.
const (
	liveCoalesce = 200 * time.Millisecond
	liveRefresh  = 2 * time.Second
	liveBuffer   = 256
)

// card is one active conference on the dashboard.
type card struct {
	Conference store.Conference
	Roster     httpapi.Roster
	Now        time.Time
}

type dashboardView struct {
	Cards        []card
	Conferences  int // configured
	Participants int
	MediaPath    string
	MediaReason  string
}

// activeCards returns the cards of the active conferences, by number.
func (s *Server) activeCards(r *http.Request) ([]card, int, error) {
	cs, err := s.d.Conferences.ListConferences(r.Context())
	if err != nil {
		return nil, 0, err
	}
	now := s.clock()
	var cards []card
	for _, c := range cs {
		if roster, ok := s.d.Live.Roster(c.ID); ok {
			cards = append(cards, card{Conference: c, Roster: roster, Now: now})
		}
	}
	return cards, len(cs), nil
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	cards, n, err := s.activeCards(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := dashboardView{Cards: cards, Conferences: n}
	for _, c := range cards {
		v.Participants += len(c.Roster.Participants)
	}
	st := s.d.Engine.Stats()
	v.MediaPath, v.MediaReason = st.PathName, st.PathReason
	s.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", LoggedIn: true, Data: v,
		Error: r.URL.Query().Get("error")})
}

// commands are the buttons of the dashboard, each an httpapi.Live command;
// onMember says whether it is about one participant.
var commands = map[string]bool{
	"mute": true, "unmute": true, "kick": true, "presenter": true, "attendee": true, "admit": true,
	"lock": false, "unlock": false, "mute-all": false, "unmute-all": false, "end": false,
}

// command runs a dashboard button through the same command path as the
// API: Live, which gives it to the Focus as the admin.
func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	cmd, member := r.PostFormValue("command"), r.PostFormValue("member")
	onMember, known := commands[cmd]
	if !known || onMember != (member != "") {
		http.Error(w, fmt.Sprintf("unknown command %q", cmd), http.StatusBadRequest)
		return
	}
	err = s.d.Live.Command(r.Context(), id, member, cmd)
	switch {
	case err == nil:
		s.log.Info("conference command", "conference", id, "command", cmd, "member", member)
		redirect(w, r, "/", "")
	case errors.Is(err, httpapi.ErrNotActive), errors.Is(err, httpapi.ErrUnknownMember),
		errors.Is(err, focus.ErrUnknownMember), errors.Is(err, focus.ErrForbidden), errors.Is(err, focus.ErrInvalidCommand):
		// Someone left or the conference ended between page and click.
		http.Redirect(w, r, "/?error="+urlQueryEscape(userMessage(err)), http.StatusSeeOther)
	default:
		s.fail(w, r, err)
	}
}

func urlQueryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", " ", "+", "?", "%3F").Replace(s)
}

// events streams the dashboard's live cards as Server-Sent Events
// (HTML Living Standard §9.2).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	evs, stop := s.d.Events.Subscribe(liveBuffer)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}

	dirty := make(map[int64]bool)
	coalesce := time.NewTicker(liveCoalesce)
	defer coalesce.Stop()
	refresh := time.NewTicker(liveRefresh)
	defer refresh.Stop()
	// shown are the conferences this page has a card for, so that one that
	// ended is removed even if its end event was missed.
	shown := make(map[int64]bool)
	send := func(ids []int64) error {
		var buf bytes.Buffer
		for _, id := range ids {
			roster, ok := s.d.Live.Roster(id)
			if !ok {
				if shown[id] {
					fmt.Fprintf(&buf, "event: ended\ndata: %d\n\n", id)
					delete(shown, id)
				}
				continue
			}
			c, err := s.d.Conferences.GetConference(r.Context(), id)
			if err != nil {
				continue // deleted meanwhile; its end event follows
			}
			var html bytes.Buffer
			if err := s.fragments.ExecuteTemplate(&html, "card", card{Conference: c, Roster: roster, Now: s.clock()}); err != nil {
				return err
			}
			buf.WriteString("event: card\n")
			for line := range strings.SplitSeq(strings.TrimSpace(html.String()), "\n") {
				buf.WriteString("data: ")
				buf.WriteString(line)
				buf.WriteByte('\n')
			}
			buf.WriteByte('\n')
			shown[id] = true
		}
		if buf.Len() == 0 {
			return nil
		}
		if _, err := buf.WriteTo(w); err != nil {
			return err
		}
		return rc.Flush()
	}
	all := func() []int64 {
		cards, _, err := s.activeCards(r)
		if err != nil {
			return nil
		}
		ids := make([]int64, 0, len(cards)+len(shown))
		for _, c := range cards {
			ids = append(ids, c.Conference.ID)
		}
		for id := range shown {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	if err := send(all()); err != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			dirty[ev.ConferenceID] = true
		case <-coalesce.C:
			if len(dirty) == 0 {
				continue
			}
			ids := make([]int64, 0, len(dirty))
			for id := range dirty {
				ids = append(ids, id)
			}
			clear(dirty)
			slices.Sort(ids)
			if err := send(ids); err != nil {
				return
			}
		case <-refresh.C:
			// A logout elsewhere, or the session's end, ends the stream.
			if _, ok, err := s.session(r); err != nil || !ok {
				return
			}
			if err := send(all()); err != nil {
				return
			}
		}
	}
}
