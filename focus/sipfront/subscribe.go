package sipfront

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/confinfo"
)

// The conference event package (RFC 4575) over SIP-specific event
// notification (RFC 6665). A SUBSCRIBE with Event: conference to a Focus
// URI or a conference number gets 200, then a NOTIFY with the full state
// (version 1), then a partial NOTIFY, version + 1, for each change the
// Focus publishes. Changes within the notify interval are coalesced into
// one document, computed from the state at the time it is sent
// (confinfo.Diff), so none is lost however many come. A refresh gets the
// full state again; Expires: 0 ends the subscription with a final NOTIFY
// (RFC 6665 §4.2.1.4); an expired one ends with reason timeout, and when
// the conference ends every subscription to it ends with reason
// noresource.

const statusBadEvent = 489 // RFC 6665 §8.3.1

// subscription is one conference subscription: its dialog, what the
// subscriber was last sent, and the goroutine that sends its NOTIFYs.
type subscription struct {
	cf     *conferencing
	dlg    *call // the dialog the SUBSCRIBE made (RFC 6665 §4.1.2.1)
	confID int64
	kick   chan struct{} // a change to notify; buffered 1, so changes coalesce

	mu       sync.Mutex
	expires  time.Time
	expiry   *time.Timer
	full     bool   // the next NOTIFY carries the full state (refresh)
	endWhy   string // set once the subscription is to end: the Subscription-State reason
	retry    int    // retry-after of a probation end, seconds
	endState bool   // the final NOTIFY carries the state (unsubscribe, conference end)
	version  uint32
	last     *confinfo.Document
	lastSent time.Time
}

// onSubscribe handles SUBSCRIBE: a new subscription out of a dialog, a
// refresh or an unsubscribe (Expires: 0) in one.
func (f *Front) onSubscribe(req *sip.Request, tx sip.ServerTransaction) {
	if f.conf == nil {
		f.respond(tx, req, statusBadEvent, "Bad Event")
		return
	}
	if ev := eventPackage(req); ev != eventConference {
		f.respond(tx, req, statusBadEvent, "Bad Event", sip.NewHeader("Allow-Events", eventConference))
		return
	}
	expires, rej := f.conf.subscriptionExpiry(req)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	if toTag(req) != "" {
		f.conf.refresh(req, tx, expires)
		return
	}
	if !acceptsConferenceInfo(req) {
		f.respond(tx, req, sip.StatusNotAcceptable, "Not Acceptable", sip.NewHeader("Accept", confinfo.ContentType))
		return
	}
	src := sourceOf(req)
	if _, rej := f.authenticateInvite(req, src); rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	target, err := targetOf(&req.Recipient)
	if err != nil {
		f.respond(tx, req, sip.StatusNotFound, "Not Found")
		return
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
	defer cancel()
	id, err := f.conf.ctl.Resolve(ctx, target)
	switch {
	case errors.Is(err, focus.ErrUnknownConference):
		f.respond(tx, req, sip.StatusNotFound, "Not Found")
		return
	case err != nil:
		f.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	f.conf.subscribe(req, tx, id, expires)
}

// eventPackage is the Event header's package name, without parameters
// (RFC 6665 §8.2.1); "o" is its compact form.
func eventPackage(m message) string {
	v, _ := firstHeader(m, "event", "o")
	name, _, _ := strings.Cut(v, ";")
	return strings.TrimSpace(name)
}

// acceptsConferenceInfo applies Accept (RFC 6665 §4.1.2.1): absent, the
// package's default type is meant.
func acceptsConferenceInfo(req *sip.Request) bool {
	types := headerValues(req, "accept")
	if len(types) == 0 {
		return true
	}
	for _, t := range types {
		mt, _, _ := strings.Cut(t, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case confinfo.ContentType, "application/*", "*/*":
			return true
		}
	}
	return false
}

// subscriptionExpiry reads Expires: absent gives the default, 0 is an
// unsubscribe or a fetch, below the minimum gets 423 with Min-Expires,
// above the maximum is cut to it (RFC 6665 §4.2.1.1).
func (cf *conferencing) subscriptionExpiry(req *sip.Request) (time.Duration, *rejection) {
	v, ok := firstHeader(req, "expires")
	if !ok {
		return defaultSubExpiry, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, reject(sip.StatusBadRequest, "Bad Expires")
	}
	d := time.Duration(n) * time.Second
	switch {
	case d == 0:
		return 0, nil
	case d < cf.minExpiry():
		return 0, reject(sip.StatusIntervalToBrief, "Interval Too Brief",
			sip.NewHeader("Min-Expires", formatSeconds(cf.minExpiry())))
	}
	return min(d, maxSubExpiry), nil
}

func (cf *conferencing) minExpiry() time.Duration {
	if d := cf.f.cfg.minSubExpiry; d > 0 {
		return d
	}
	return minSubExpiry
}

func (cf *conferencing) interval() time.Duration {
	if d := cf.f.cfg.notifyInterval; d > 0 {
		return d
	}
	return defaultNotifyInterval
}

// subscribe makes a new subscription, answers 200 and starts its NOTIFYs.
func (cf *conferencing) subscribe(req *sip.Request, tx sip.ServerTransaction, id int64, expires time.Duration) {
	f := cf.f
	dlg := f.newCall(req, sip.GenerateTagN(16))
	dlg.cancelJoin() // the dialog has no Join
	s := &subscription{cf: cf, dlg: dlg, confID: id, kick: make(chan struct{}, 1)}
	if expires == 0 {
		s.endWhy, s.endState = "timeout", true // a fetch: one NOTIFY with the state, and done
	}
	cf.mu.Lock()
	if cf.closed {
		cf.mu.Unlock()
		f.respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
		return
	}
	cf.subs[dlg.key] = s
	if cf.byConf[id] == nil {
		cf.byConf[id] = make(map[*subscription]struct{})
	}
	cf.byConf[id][s] = struct{}{}
	cf.mu.Unlock()
	cf.watch()
	s.setExpiry(expires)

	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if to := res.To(); to != nil {
		to.Params.Add("tag", dlg.key.localTag)
	}
	res.AppendHeader(dlg.contact.Clone())
	res.AppendHeader(sip.NewHeader("Expires", formatSeconds(expires)))
	f.sendResponse(tx, res)
	f.log.Debug("conference subscription", "call_id", dlg.key.callID, "conference", id, "expires", expires)

	f.background.add()
	go func() {
		defer f.background.done()
		cf.run(s)
	}()
}

// refresh takes a SUBSCRIBE in an existing subscription's dialog.
func (cf *conferencing) refresh(req *sip.Request, tx sip.ServerTransaction, expires time.Duration) {
	key := dialogKey{callID: req.CallID().Value(), localTag: toTag(req)}
	cf.mu.Lock()
	s := cf.subs[key]
	cf.mu.Unlock()
	if s == nil || s.dlg.remoteTag != fromTag(req) {
		cf.f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !s.dlg.checkCSeq(req) {
		cf.f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
		return
	}
	s.dlg.mu.Lock()
	s.dlg.refreshTarget(req)
	s.dlg.mu.Unlock()
	s.mu.Lock()
	if s.endWhy != "" { // ending: as good as gone (RFC 6665 §4.1.2.2)
		s.mu.Unlock()
		cf.f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if expires == 0 {
		s.endWhy, s.endState = "timeout", true
	} else {
		s.full = true
	}
	s.mu.Unlock()
	if expires > 0 {
		s.setExpiry(expires)
	}
	cf.f.respond(tx, req, sip.StatusOK, "OK", s.dlg.contact.Clone(), sip.NewHeader("Expires", formatSeconds(expires)))
	s.poke()
}

// setExpiry (re)arms the subscription's end.
func (s *subscription) setExpiry(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expires = time.Now().Add(d)
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if d > 0 {
		s.expiry = time.AfterFunc(d, func() { s.end("timeout", false, 0) })
	}
}

// end asks the subscription to end with a final NOTIFY whose
// Subscription-State is terminated with reason; withState puts the
// conference's state in it.
func (s *subscription) end(reason string, withState bool, retryAfter int) {
	s.mu.Lock()
	if s.endWhy == "" {
		s.endWhy, s.endState, s.retry = reason, withState, retryAfter
	}
	s.mu.Unlock()
	s.poke()
}

func (s *subscription) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run sends the subscription's NOTIFYs until it ends.
func (cf *conferencing) run(s *subscription) {
	defer cf.forget(s)
	ctx := cf.f.baseContext()
	if !cf.notify(s, true) {
		return
	}
	for {
		select {
		case <-s.kick:
		case <-ctx.Done():
			return
		}
		s.mu.Lock()
		ending := s.endWhy != ""
		wait := time.Until(s.lastSent.Add(cf.interval()))
		s.mu.Unlock()
		if !ending && wait > 0 {
			// Coalesce: whatever else changes meanwhile goes in the same
			// document.
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		if !cf.notify(s, false) {
			return
		}
	}
}

// notify sends one NOTIFY: the full state first (or after a refresh), then
// what changed since the last one, or the final one when the subscription
// is ending. It reports whether the subscription goes on.
func (cf *conferencing) notify(s *subscription, first bool) bool {
	ctx, cancel := context.WithTimeout(cf.f.baseContext(), 64*cf.f.cfg.t1)
	defer cancel()
	s.mu.Lock()
	endWhy, endState, retry, full := s.endWhy, s.endState, s.retry, s.full || first
	s.full = false
	remaining := time.Until(s.expires)
	s.mu.Unlock()

	var doc *confinfo.Document
	if endWhy == "" || endState {
		now, err := cf.ctl.ConferenceInfo(ctx, s.confID)
		switch {
		case errors.Is(err, focus.ErrUnknownConference):
			// Deleted: the subscription ends, with nothing more to say.
			if endWhy == "" {
				endWhy, endState = "noresource", false
			}
		case err != nil:
			cf.f.log.Warn("conference state for NOTIFY", "conference", s.confID, "error", err)
			return endWhy == "" // try again at the next change
		default:
			doc = now
			if !full && s.last != nil {
				doc = confinfo.Diff(s.last, now)
			}
		}
		if doc == nil && endWhy == "" {
			return true // nothing changed (talking, codec)
		}
		if doc != nil {
			s.version++
			doc.Version = s.version
			s.last = now
		}
	}
	state := "active;expires=" + strconv.Itoa(max(int(remaining/time.Second), 1))
	if endWhy != "" {
		state = "terminated;reason=" + endWhy
		if retry > 0 {
			state += ";retry-after=" + strconv.Itoa(retry)
		}
	}
	req := s.dlg.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", eventConference))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	if doc != nil {
		ct := sip.ContentTypeHeader(confinfo.ContentType)
		req.AppendHeader(&ct)
		req.SetBody(doc.Marshal())
	}
	congestionControlled(req)
	s.mu.Lock()
	s.lastSent = time.Now()
	s.mu.Unlock()
	res, err := cf.f.send(ctx, req)
	switch {
	case err != nil:
		cf.f.log.Debug("NOTIFY not answered; subscription ends", "call_id", s.dlg.key.callID, "error", err)
		return false
	case res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout:
		// RFC 6665 §4.2.2: the subscriber has gone.
		return false
	}
	return endWhy == ""
}

// forget removes a subscription that has ended.
func (cf *conferencing) forget(s *subscription) {
	s.mu.Lock()
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.mu.Unlock()
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if cf.subs[s.dlg.key] == s {
		delete(cf.subs, s.dlg.key)
	}
	if set := cf.byConf[s.confID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(cf.byConf, s.confID)
		}
	}
}

// watch starts, once, the goroutine that turns the Focus Factory's events
// into NOTIFYs for the subscriptions of their conference.
func (cf *conferencing) watch() {
	cf.watchOnce.Do(func() {
		ctx := cf.f.baseContext()
		events, stop := cf.ctl.Subscribe(4096)
		cf.f.background.add()
		go func() {
			defer cf.f.background.done()
			defer stop()
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						return
					}
					cf.changed(ev)
				case <-ctx.Done():
					return
				}
			}
		}()
	})
}

// changed pokes the subscriptions of an event's conference; its end ends
// them.
func (cf *conferencing) changed(ev focus.Event) {
	cf.mu.Lock()
	subs := make([]*subscription, 0, len(cf.byConf[ev.ConferenceID]))
	for s := range cf.byConf[ev.ConferenceID] {
		subs = append(subs, s)
	}
	cf.mu.Unlock()
	for _, s := range subs {
		if ev.Kind == focus.ConferenceEnded {
			s.end("noresource", true, 0)
		} else {
			s.poke()
		}
	}
}

// endSubscriptions ends every subscription at shutdown, telling the
// subscribers to come back in a while (RFC 6665 §4.1.3 probation).
func (f *Front) endSubscriptions() {
	if f.conf == nil {
		return
	}
	cf := f.conf
	cf.mu.Lock()
	cf.closed = true
	subs := make([]*subscription, 0, len(cf.subs))
	for _, s := range cf.subs {
		subs = append(subs, s)
	}
	cf.mu.Unlock()
	for _, s := range subs {
		s.end("probation", false, 30)
	}
}

// sourceOf is where a request came from.
func sourceOf(req *sip.Request) netip.AddrPort {
	src, _ := netip.ParseAddrPort(req.Source())
	return src
}

// maxUDPRequest is the size above which a request must not go over UDP
// when the path MTU is unknown (RFC 3261 §18.1.1).
const maxUDPRequest = 1300

// congestionControlled moves a request too large for UDP to TCP, to the
// same address, as RFC 3261 §18.1.1 requires: conference-info documents
// of a conference with a few members are that large. A subscriber over
// UDP must then also take TCP on its port, as phones that listen on 5060
// do; one that does not loses its subscription at the first such NOTIFY.
func congestionControlled(req *sip.Request) {
	if sip.IsReliable(req.Transport()) || len(req.String()) <= maxUDPRequest {
		return
	}
	req.SetTransport("TCP")
	req.Laddr = sip.Addr{}
	if via := req.Via(); via != nil {
		via.Transport = "TCP"
	}
}
