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
	d.root().Write(&b, "", 0)
	return b.Bytes()
}

// Fragment writes d as an element inside another document (C3P carries
// conference-info in its commands): no XML declaration, every line starting
// with prefix, nested depth levels deep.
func (d *Document) Fragment(prefix string, depth int) []byte {
	var b bytes.Buffer
	d.root().Write(&b, prefix, depth)
	return b.Bytes()
}

func (d *Document) root() *node {
	n := el("conference-info").Attr("xmlns", Namespace)
	if d.usesMS() {
		n.Attr("xmlns:msci", MSNamespace)
	}
	// RFC 4575 §5.1: entity is required; C3P's addConference leaves it empty.
	n.Attrs = append(n.Attrs, [2]string{"entity", d.Entity})
	n.Attr("state", string(d.State))
	if d.Version > 0 {
		n.Attr("version", strconv.FormatUint(uint64(d.Version), 10))
	}
	n.Add(d.Description.node(), d.ConfState.node(), d.Users.node())
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
	n := el("conference-description").Add(
		leaf("display-text", ds.DisplayText),
		leaf("subject", ds.Subject),
		leaf("free-text", ds.FreeText),
		uris("conf-uris", ds.ConfURIs),
		uris("service-uris", ds.ServiceURIs),
	)
	if ds.MaxUserCount != nil {
		n.Add(leaf("maximum-user-count", strconv.FormatUint(uint64(*ds.MaxUserCount), 10)))
	}
	if len(ds.AvailableMedia) > 0 {
		am := el("available-media")
		for _, m := range ds.AvailableMedia {
			am.Add(el("entry").Attr("label", m.Label).Add(
				leaf("display-text", m.DisplayText),
				leaf("type", m.Type),
				leaf("status", m.Status)))
		}
		n.Add(am)
	}
	n.Add(leaf("msci:conference-id", ds.ConferenceID), leaf("msci:admission-policy", ds.AdmissionPolicy))
	if ds.ExpiryTime != nil {
		n.Add(leaf("msci:expiry-time", formatTime(*ds.ExpiryTime)))
	}
	return n
}

func uris(name string, list []URI) *node {
	if len(list) == 0 {
		return nil
	}
	n := el(name)
	for _, u := range list {
		n.Add(el("entry", leaf("uri", u.URI)).Add(leaf("display-text", u.DisplayText), leaf("purpose", u.Purpose)))
	}
	return n
}

func (s *ConferenceState) node() *node {
	if s == nil {
		return nil
	}
	n := el("conference-state")
	if s.UserCount != nil {
		n.Add(leaf("user-count", strconv.FormatUint(uint64(*s.UserCount), 10)))
	}
	if s.Active != nil {
		n.Add(leaf("active", strconv.FormatBool(*s.Active)))
	}
	if s.Locked != nil {
		n.Add(leaf("locked", strconv.FormatBool(*s.Locked)))
	}
	return n
}

func (us *Users) node() *node {
	if us == nil {
		return nil
	}
	n := el("users").Attr("state", string(us.State))
	for i := range us.Users {
		n.Add(us.Users[i].node())
	}
	return n
}

func (u *User) node() *node {
	n := el("user").Attr("entity", u.Entity).Attr("state", string(u.State))
	n.Add(leaf("display-text", u.DisplayText))
	if len(u.Roles) > 0 {
		r := el("roles")
		for _, role := range u.Roles {
			r.Add(leaf("entry", role))
		}
		n.Add(r)
	}
	for i := range u.Endpoints {
		n.Add(u.Endpoints[i].node())
	}
	return n
}

func (e *Endpoint) node() *node {
	n := el("endpoint").Attr("entity", e.Entity).Attr("state", string(e.State))
	n.Add(leaf("display-text", e.DisplayText),
		leaf("status", e.Status),
		leaf("joining-method", e.JoiningMethod),
		e.JoiningInfo.node("joining-info"),
		leaf("disconnection-method", e.DisconnectionMethod),
		e.DisconnectionInfo.node("disconnection-info"))
	for i := range e.Media {
		n.Add(e.Media[i].node())
	}
	if c := e.CallInfo; c != nil {
		n.Add(el("call-info", el("sip").Add(
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
		n.Add(leaf("when", formatTime(x.When)))
	}
	return n.Add(leaf("reason", x.Reason), leaf("by", x.By))
}

func (m *Media) node() *node {
	return el("media").Attr("id", m.ID).Attr("state", string(m.State)).Add(
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
