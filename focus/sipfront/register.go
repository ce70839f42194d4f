package sipfront

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Registration intervals (RFC 3261 §10.2.1.1, §10.3 step 7).
const (
	defaultExpires = 3600 * time.Second
	maxExpires     = 3600 * time.Second
	minExpires     = 60 * time.Second
)

// onRegister is the registrar (RFC 3261 §10.3) for desk phones.
func (f *Front) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	if f.cfg.auth == nil || f.cfg.registrar == nil {
		f.respond(tx, req, sip.StatusForbidden, "Forbidden", warningHeader(399, f.localAgent(req), "registration is not enabled"))
		return
	}
	src, _ := netip.ParseAddrPort(req.Source())
	user, rej := f.authenticate(req, src.Addr())
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	// Step 6: the authenticated user may only change its own bindings.
	if req.To().Address.User != user {
		f.stats.authFailures.Add(1)
		f.respond(tx, req, sip.StatusForbidden, "Forbidden", warningHeader(399, f.localAgent(req), "To does not match the authenticated user"))
		return
	}
	aor := f.aor(user)
	changes, rej := f.bindingChanges(req, aor, user, src)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), authTimeout)
	defer cancel()
	current, err := f.cfg.registrar.Lookup(ctx, aor)
	if err != nil {
		f.registrarFailed(tx, req, err)
		return
	}
	changes = expandWildcard(changes, current)
	if rej := checkOrder(changes, current); rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	for _, ch := range changes {
		if ch.remove {
			err = f.cfg.registrar.Delete(ctx, aor, ch.binding.Contact)
		} else {
			err = f.cfg.registrar.Upsert(ctx, ch.binding)
		}
		if err != nil {
			f.registrarFailed(tx, req, err)
			return
		}
	}
	if current, err = f.cfg.registrar.Lookup(ctx, aor); err != nil {
		f.registrarFailed(tx, req, err)
		return
	}
	f.stats.registrations.Add(1)
	// Step 8: 200 with every current binding and its remaining time.
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	now := f.cfg.now()
	for _, b := range current {
		var u sip.Uri
		left := b.Expires.Sub(now).Round(time.Second)
		if left <= 0 || sip.ParseUri(b.Contact, &u) != nil {
			continue
		}
		ct := &sip.ContactHeader{Address: u, Params: sip.NewParams()}
		ct.Params.Add("expires", formatSeconds(left))
		res.AppendHeader(ct)
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	f.sendResponse(tx, res)
}

func (f *Front) registrarFailed(tx sip.ServerTransaction, req *sip.Request, err error) {
	f.log.Warn("registrar failed", "error", err)
	f.respond(tx, req, sip.StatusInternalServerError, "Server Internal Error")
}

// bindingChange is one Contact of a REGISTER: a binding to store or remove.
type bindingChange struct {
	binding Binding
	remove  bool
	all     bool // Contact: * (remove every binding)
}

// bindingChanges reads the Contacts and expiry of a REGISTER (RFC 3261
// §10.3 steps 6 and 7). A REGISTER without Contact only queries.
func (f *Front) bindingChanges(req *sip.Request, aor, user string, src netip.AddrPort) ([]bindingChange, *rejection) {
	headerExpires := time.Duration(-1)
	if v, ok := firstHeader(req, "expires"); ok {
		d, err := parseDelta(v)
		if err != nil {
			return nil, reject(sip.StatusBadRequest, "Bad Expires")
		}
		headerExpires = d
	}
	contacts := req.GetHeaders("Contact")
	var changes []bindingChange
	now := f.cfg.now()
	ua, _ := firstHeader(req, "user-agent")
	for _, h := range contacts {
		ct, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, reject(sip.StatusBadRequest, "Bad Contact")
		}
		if ct.Address.Wildcard {
			// "*" only alone and with Expires: 0.
			if len(contacts) != 1 || headerExpires != 0 {
				return nil, reject(sip.StatusBadRequest, "Invalid Wildcard Contact")
			}
			return []bindingChange{{all: true, remove: true, binding: Binding{
				AOR: aor, CallID: req.CallID().Value(), CSeq: req.CSeq().SeqNo,
			}}}, nil
		}
		exp := defaultExpires
		if headerExpires >= 0 {
			exp = headerExpires
		}
		if v, ok := ct.Params.Get("expires"); ok {
			d, err := parseDelta(v)
			if err != nil {
				return nil, reject(sip.StatusBadRequest, "Bad Contact Expires")
			}
			exp = d
		}
		if exp > 0 && exp < minExpires {
			return nil, reject(sip.StatusIntervalToBrief, "Interval Too Brief",
				sip.NewHeader("Min-Expires", formatSeconds(minExpires)))
		}
		exp = min(exp, maxExpires)
		contact := ct.Address.String()
		if strings.ContainsAny(contact, "\r\n") {
			return nil, reject(sip.StatusBadRequest, "Bad Contact")
		}
		changes = append(changes, bindingChange{
			remove: exp == 0,
			binding: Binding{
				AOR: aor, User: user, Contact: contact, Expires: now.Add(exp),
				CallID: req.CallID().Value(), CSeq: req.CSeq().SeqNo,
				Source: src, Transport: transportOf(req), UserAgent: ua,
			},
		})
	}
	return changes, nil
}

// checkOrder enforces RFC 3261 §10.3 step 7: a binding changed from the
// same Call-ID must come with a higher CSeq, otherwise the request fails.
func checkOrder(changes []bindingChange, current []Binding) *rejection {
	byContact := make(map[string]Binding, len(current))
	for _, b := range current {
		byContact[b.Contact] = b
	}
	for _, ch := range changes {
		if old, ok := byContact[ch.binding.Contact]; ok && old.CallID == ch.binding.CallID && ch.binding.CSeq <= old.CSeq {
			return reject(sip.StatusBadRequest, "Out of Order REGISTER")
		}
	}
	return nil
}

// expandWildcard turns Contact: * into removals of every current binding,
// each carrying the request's Call-ID and CSeq for checkOrder.
func expandWildcard(changes []bindingChange, current []Binding) []bindingChange {
	if len(changes) != 1 || !changes[0].all {
		return changes
	}
	req := changes[0].binding
	out := make([]bindingChange, 0, len(current))
	for _, b := range current {
		b.CallID, b.CSeq = req.CallID, req.CSeq
		out = append(out, bindingChange{binding: b, remove: true})
	}
	return out
}
