package confinfo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The decoding structs name every element with its namespace, so that an
// element of another namespace with the same local name is ignored, as
// RFC 4575 §5 asks of unknown extensions.

type xDocument struct {
	XMLName     xml.Name      `xml:"urn:ietf:params:xml:ns:conference-info conference-info"`
	Entity      string        `xml:"entity,attr"`
	State       string        `xml:"state,attr"`
	Version     string        `xml:"version,attr"`
	Description *xDescription `xml:"urn:ietf:params:xml:ns:conference-info conference-description"`
	ConfState   *xConfState   `xml:"urn:ietf:params:xml:ns:conference-info conference-state"`
	Users       *xUsers       `xml:"urn:ietf:params:xml:ns:conference-info users"`
}

type xDescription struct {
	DisplayText     string   `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Subject         string   `xml:"urn:ietf:params:xml:ns:conference-info subject"`
	FreeText        string   `xml:"urn:ietf:params:xml:ns:conference-info free-text"`
	ConfURIs        []xURI   `xml:"urn:ietf:params:xml:ns:conference-info conf-uris>entry"`
	ServiceURIs     []xURI   `xml:"urn:ietf:params:xml:ns:conference-info service-uris>entry"`
	MaxUserCount    *string  `xml:"urn:ietf:params:xml:ns:conference-info maximum-user-count"`
	AvailableMedia  []xAvail `xml:"urn:ietf:params:xml:ns:conference-info available-media>entry"`
	ConferenceID    string   `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions conference-id"`
	AdmissionPolicy string   `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions admission-policy"`
	ExpiryTime      *string  `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions expiry-time"`
}

type xURI struct {
	URI         string `xml:"urn:ietf:params:xml:ns:conference-info uri"`
	DisplayText string `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Purpose     string `xml:"urn:ietf:params:xml:ns:conference-info purpose"`
}

type xAvail struct {
	Label       string `xml:"label,attr"`
	DisplayText string `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Type        string `xml:"urn:ietf:params:xml:ns:conference-info type"`
	Status      string `xml:"urn:ietf:params:xml:ns:conference-info status"`
}

type xConfState struct {
	UserCount *string `xml:"urn:ietf:params:xml:ns:conference-info user-count"`
	Active    *string `xml:"urn:ietf:params:xml:ns:conference-info active"`
	Locked    *string `xml:"urn:ietf:params:xml:ns:conference-info locked"`
}

type xUsers struct {
	State string  `xml:"state,attr"`
	Users []xUser `xml:"urn:ietf:params:xml:ns:conference-info user"`
}

type xUser struct {
	Entity      string      `xml:"entity,attr"`
	State       string      `xml:"state,attr"`
	DisplayText string      `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Roles       []string    `xml:"urn:ietf:params:xml:ns:conference-info roles>entry"`
	Endpoints   []xEndpoint `xml:"urn:ietf:params:xml:ns:conference-info endpoint"`
}

type xEndpoint struct {
	Entity              string     `xml:"entity,attr"`
	State               string     `xml:"state,attr"`
	DisplayText         string     `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Status              string     `xml:"urn:ietf:params:xml:ns:conference-info status"`
	JoiningMethod       string     `xml:"urn:ietf:params:xml:ns:conference-info joining-method"`
	JoiningInfo         *xExecInfo `xml:"urn:ietf:params:xml:ns:conference-info joining-info"`
	DisconnectionMethod string     `xml:"urn:ietf:params:xml:ns:conference-info disconnection-method"`
	DisconnectionInfo   *xExecInfo `xml:"urn:ietf:params:xml:ns:conference-info disconnection-info"`
	Media               []xMedia   `xml:"urn:ietf:params:xml:ns:conference-info media"`
	SIP                 *xSIP      `xml:"urn:ietf:params:xml:ns:conference-info call-info>sip"`
}

type xExecInfo struct {
	When   *string `xml:"urn:ietf:params:xml:ns:conference-info when"`
	Reason string  `xml:"urn:ietf:params:xml:ns:conference-info reason"`
	By     string  `xml:"urn:ietf:params:xml:ns:conference-info by"`
}

type xMedia struct {
	ID            string `xml:"id,attr"`
	State         string `xml:"state,attr"`
	DisplayText   string `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Type          string `xml:"urn:ietf:params:xml:ns:conference-info type"`
	Label         string `xml:"urn:ietf:params:xml:ns:conference-info label"`
	SrcID         string `xml:"urn:ietf:params:xml:ns:conference-info src-id"`
	Status        string `xml:"urn:ietf:params:xml:ns:conference-info status"`
	IngressFilter string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions media-ingress-filter"`
	EgressFilter  string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions media-egress-filter"`
}

type xSIP struct {
	DisplayText string `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	CallID      string `xml:"urn:ietf:params:xml:ns:conference-info call-id"`
	FromTag     string `xml:"urn:ietf:params:xml:ns:conference-info from-tag"`
	ToTag       string `xml:"urn:ietf:params:xml:ns:conference-info to-tag"`
}

// Unmarshal reads a conference-info document. Documents over
// MaxDocumentSize, nested deeper than the limit or with too many elements
// give ErrTooLarge before anything is decoded; what is not a well-formed
// conference-info document, or has a state, version, count, boolean or
// time that does not parse, gives ErrMalformed.
func Unmarshal(b []byte) (*Document, error) {
	if err := CheckLimits(b, MaxDocumentSize, maxDepth, maxElements); err != nil {
		return nil, err
	}
	var x xDocument
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return x.document()
}

// UnmarshalElement reads a <conference-info> element that another decoder
// has already limited and captured, such as the one C3P's addConference
// carries.
func UnmarshalElement(d *xml.Decoder, start xml.StartElement) (*Document, error) {
	var x xDocument
	if err := d.DecodeElement(&x, &start); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return x.document()
}

// CheckLimits scans an XML document without decoding it and fails with
// ErrTooLarge if it is longer than size bytes, nests elements deeper than
// depth or has more than elements elements; with ErrMalformed if it is not
// well-formed. It keeps a hostile document from making the decoder build
// an unbounded tree.
func CheckLimits(b []byte, size, depth, elements int) error {
	if len(b) > size {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), size)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	level, count := 0, 0
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			if level != 0 {
				return fmt.Errorf("%w: unclosed element", ErrMalformed)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch tok.(type) {
		case xml.StartElement:
			level++
			count++
			if level > depth {
				return fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, depth)
			}
			if count > elements {
				return fmt.Errorf("%w: more than %d elements", ErrTooLarge, elements)
			}
		case xml.EndElement:
			level--
		case xml.Directive:
			// No DTDs: entity declarations are how XML bombs start.
			return fmt.Errorf("%w: directives are not accepted", ErrMalformed)
		}
	}
}

func (x *xDocument) document() (*Document, error) {
	d := &Document{Entity: strings.TrimSpace(x.Entity)}
	var err error
	if d.State, err = parseState(x.State); err != nil {
		return nil, err
	}
	if x.Version != "" {
		v, err := strconv.ParseUint(strings.TrimSpace(x.Version), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: version %q", ErrMalformed, x.Version)
		}
		d.Version = uint32(v)
	}
	if x.Description != nil {
		if d.Description, err = x.Description.description(); err != nil {
			return nil, err
		}
	}
	if x.ConfState != nil {
		if d.ConfState, err = x.ConfState.state(); err != nil {
			return nil, err
		}
	}
	if x.Users != nil {
		if d.Users, err = x.Users.users(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func parseState(s string) (State, error) {
	switch st := State(strings.TrimSpace(s)); st {
	case "", Full, Partial, Deleted:
		return st, nil
	}
	return "", fmt.Errorf("%w: state %q", ErrMalformed, s)
}

func (x *xDescription) description() (*Description, error) {
	ds := &Description{
		DisplayText:     x.DisplayText,
		Subject:         x.Subject,
		FreeText:        x.FreeText,
		ConferenceID:    strings.TrimSpace(x.ConferenceID),
		AdmissionPolicy: strings.TrimSpace(x.AdmissionPolicy),
	}
	for _, u := range x.ConfURIs {
		ds.ConfURIs = append(ds.ConfURIs, URI(u))
	}
	for _, u := range x.ServiceURIs {
		ds.ServiceURIs = append(ds.ServiceURIs, URI(u))
	}
	for _, m := range x.AvailableMedia {
		ds.AvailableMedia = append(ds.AvailableMedia, AvailableMedia(m))
	}
	var err error
	if x.MaxUserCount != nil {
		if ds.MaxUserCount, err = parseCount("maximum-user-count", *x.MaxUserCount); err != nil {
			return nil, err
		}
	}
	if x.ExpiryTime != nil {
		t, err := parseTime(*x.ExpiryTime)
		if err != nil {
			return nil, err
		}
		ds.ExpiryTime = &t
	}
	return ds, nil
}

func (x *xConfState) state() (*ConferenceState, error) {
	s := &ConferenceState{}
	var err error
	if x.UserCount != nil {
		if s.UserCount, err = parseCount("user-count", *x.UserCount); err != nil {
			return nil, err
		}
	}
	if x.Active != nil {
		if s.Active, err = parseBool("active", *x.Active); err != nil {
			return nil, err
		}
	}
	if x.Locked != nil {
		if s.Locked, err = parseBool("locked", *x.Locked); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (x *xUsers) users() (*Users, error) {
	st, err := parseState(x.State)
	if err != nil {
		return nil, err
	}
	us := &Users{State: st}
	for _, xu := range x.Users {
		u := User{Entity: strings.TrimSpace(xu.Entity), DisplayText: xu.DisplayText}
		if u.State, err = parseState(xu.State); err != nil {
			return nil, err
		}
		for _, r := range xu.Roles {
			u.Roles = append(u.Roles, strings.TrimSpace(r))
		}
		for _, xe := range xu.Endpoints {
			e, err := xe.endpoint()
			if err != nil {
				return nil, err
			}
			u.Endpoints = append(u.Endpoints, e)
		}
		us.Users = append(us.Users, u)
	}
	return us, nil
}

func (x *xEndpoint) endpoint() (Endpoint, error) {
	e := Endpoint{
		Entity:              strings.TrimSpace(x.Entity),
		DisplayText:         x.DisplayText,
		Status:              strings.TrimSpace(x.Status),
		JoiningMethod:       strings.TrimSpace(x.JoiningMethod),
		DisconnectionMethod: strings.TrimSpace(x.DisconnectionMethod),
	}
	var err error
	if e.State, err = parseState(x.State); err != nil {
		return e, err
	}
	if e.JoiningInfo, err = x.JoiningInfo.info(); err != nil {
		return e, err
	}
	if e.DisconnectionInfo, err = x.DisconnectionInfo.info(); err != nil {
		return e, err
	}
	for _, xm := range x.Media {
		m := Media{
			ID: strings.TrimSpace(xm.ID), DisplayText: xm.DisplayText, Type: strings.TrimSpace(xm.Type),
			Label: strings.TrimSpace(xm.Label), SrcID: strings.TrimSpace(xm.SrcID), Status: strings.TrimSpace(xm.Status),
			IngressFilter: strings.TrimSpace(xm.IngressFilter), EgressFilter: strings.TrimSpace(xm.EgressFilter),
		}
		if m.State, err = parseState(xm.State); err != nil {
			return e, err
		}
		e.Media = append(e.Media, m)
	}
	if x.SIP != nil {
		e.CallInfo = &SIPDialog{DisplayText: x.SIP.DisplayText, CallID: strings.TrimSpace(x.SIP.CallID),
			FromTag: strings.TrimSpace(x.SIP.FromTag), ToTag: strings.TrimSpace(x.SIP.ToTag)}
	}
	return e, nil
}

func (x *xExecInfo) info() (*ExecInfo, error) {
	if x == nil {
		return nil, nil
	}
	in := &ExecInfo{Reason: x.Reason, By: strings.TrimSpace(x.By)}
	if x.When != nil {
		t, err := parseTime(*x.When)
		if err != nil {
			return nil, err
		}
		in.When = t
	}
	return in, nil
}

func parseCount(what, s string) (*uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q", ErrMalformed, what, s)
	}
	v := uint32(n)
	return &v, nil
}

// parseBool takes the xs:boolean lexical forms.
func parseBool(what, s string) (*bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return Ptr(true), nil
	case "false", "0":
		return Ptr(false), nil
	}
	return nil, fmt.Errorf("%w: %s %q", ErrMalformed, what, s)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q", ErrMalformed, s)
	}
	return t.UTC(), nil
}
