package confinfo

import (
	"bytes"
	"strconv"
	"time"
)

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Marshal writes d as a conference-info document with its XML declaration.
// The conference-info namespace is the default one; the Microsoft
// extension namespace is declared as msci only when an element needs it.
func (d *Document) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	d.root().write(&b, "", 0)
	return b.Bytes()
}

// Fragment writes d as an element inside another document (C3P carries
// conference-info in its commands): no XML declaration, every line starting
// with prefix, nested depth levels deep.
func (d *Document) Fragment(prefix string, depth int) []byte {
	var b bytes.Buffer
	d.root().write(&b, prefix, depth)
	return b.Bytes()
}

func (d *Document) root() *node {
	n := el("conference-info").attr("xmlns", Namespace)
	if d.usesMS() {
		n.attr("xmlns:msci", MSNamespace)
	}
	// RFC 4575 §5.1: entity is required; C3P's addConference leaves it empty.
	n.attrs = append(n.attrs, [2]string{"entity", d.Entity})
	n.attr("state", string(d.State))
	if d.Version > 0 {
		n.attr("version", strconv.FormatUint(uint64(d.Version), 10))
	}
	n.add(d.Description.node(), d.ConfState.node(), d.Users.node())
	return n
}

func (d *Document) usesMS() bool {
	if ds := d.Description; ds != nil && (ds.ConferenceID != "" || ds.AdmissionPolicy != "" || ds.ExpiryTime != nil) {
		return true
	}
	if d.Users == nil {
		return false
	}
	for _, u := range d.Users.Users {
		for _, e := range u.Endpoints {
			for _, m := range e.Media {
				if m.IngressFilter != "" || m.EgressFilter != "" {
					return true
				}
			}
		}
	}
	return false
}

func (ds *Description) node() *node {
	if ds == nil {
		return nil
	}
	n := el("conference-description").add(
		leaf("display-text", ds.DisplayText),
		leaf("subject", ds.Subject),
		leaf("free-text", ds.FreeText),
		uris("conf-uris", ds.ConfURIs),
		uris("service-uris", ds.ServiceURIs),
	)
	if ds.MaxUserCount != nil {
		n.add(leaf("maximum-user-count", strconv.FormatUint(uint64(*ds.MaxUserCount), 10)))
	}
	if len(ds.AvailableMedia) > 0 {
		am := el("available-media")
		for _, m := range ds.AvailableMedia {
			am.add(el("entry").attr("label", m.Label).add(
				leaf("display-text", m.DisplayText),
				leaf("type", m.Type),
				leaf("status", m.Status)))
		}
		n.add(am)
	}
	n.add(leaf("msci:conference-id", ds.ConferenceID), leaf("msci:admission-policy", ds.AdmissionPolicy))
	if ds.ExpiryTime != nil {
		n.add(leaf("msci:expiry-time", formatTime(*ds.ExpiryTime)))
	}
	return n
}

func uris(name string, list []URI) *node {
	if len(list) == 0 {
		return nil
	}
	n := el(name)
	for _, u := range list {
		n.add(el("entry", leaf("uri", u.URI)).add(leaf("display-text", u.DisplayText), leaf("purpose", u.Purpose)))
	}
	return n
}

func (s *ConferenceState) node() *node {
	if s == nil {
		return nil
	}
	n := el("conference-state")
	if s.UserCount != nil {
		n.add(leaf("user-count", strconv.FormatUint(uint64(*s.UserCount), 10)))
	}
	if s.Active != nil {
		n.add(leaf("active", strconv.FormatBool(*s.Active)))
	}
	if s.Locked != nil {
		n.add(leaf("locked", strconv.FormatBool(*s.Locked)))
	}
	return n
}

func (us *Users) node() *node {
	if us == nil {
		return nil
	}
	n := el("users").attr("state", string(us.State))
	for i := range us.Users {
		n.add(us.Users[i].node())
	}
	return n
}

func (u *User) node() *node {
	n := el("user").attr("entity", u.Entity).attr("state", string(u.State))
	n.add(leaf("display-text", u.DisplayText))
	if len(u.Roles) > 0 {
		r := el("roles")
		for _, role := range u.Roles {
			r.add(leaf("entry", role))
		}
		n.add(r)
	}
	for i := range u.Endpoints {
		n.add(u.Endpoints[i].node())
	}
	return n
}

func (e *Endpoint) node() *node {
	n := el("endpoint").attr("entity", e.Entity).attr("state", string(e.State))
	n.add(leaf("display-text", e.DisplayText),
		leaf("status", e.Status),
		leaf("joining-method", e.JoiningMethod),
		e.JoiningInfo.node("joining-info"),
		leaf("disconnection-method", e.DisconnectionMethod),
		e.DisconnectionInfo.node("disconnection-info"))
	for i := range e.Media {
		n.add(e.Media[i].node())
	}
	if c := e.CallInfo; c != nil {
		n.add(el("call-info", el("sip").add(
			leaf("display-text", c.DisplayText),
			leaf("call-id", c.CallID),
			leaf("from-tag", c.FromTag),
			leaf("to-tag", c.ToTag))))
	}
	return n
}

func (x *ExecInfo) node(name string) *node {
	if x == nil {
		return nil
	}
	n := el(name)
	if !x.When.IsZero() {
		n.add(leaf("when", formatTime(x.When)))
	}
	return n.add(leaf("reason", x.Reason), leaf("by", x.By))
}

func (m *Media) node() *node {
	return el("media").attr("id", m.ID).attr("state", string(m.State)).add(
		leaf("display-text", m.DisplayText),
		leaf("type", m.Type),
		leaf("label", m.Label),
		leaf("src-id", m.SrcID),
		leaf("status", m.Status),
		leaf("msci:media-ingress-filter", m.IngressFilter),
		leaf("msci:media-egress-filter", m.EgressFilter))
}

// formatTime writes an xs:dateTime in UTC to the second.
func formatTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
