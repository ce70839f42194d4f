package c3p

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"confab/focus/confinfo"
)

// Unknown is a command this package does not know; Decode returns it with
// ErrUnknownCommand so that the failure response can echo its name.
type Unknown struct{ Element string }

// Name implements Command.
func (u Unknown) Name() string { return u.Element }

type xRequest struct {
	XMLName  xml.Name   `xml:"urn:ietf:params:xml:ns:cccp request"`
	Version  string     `xml:"C3PVersion,attr"`
	ID       string     `xml:"requestId,attr"`
	From     string     `xml:"from,attr"`
	To       string     `xml:"to,attr"`
	Commands []xCommand `xml:",any"`
}

// xCommand takes any command: each uses only the fields of its shape.
type xCommand struct {
	XMLName        xml.Name
	MCUURI         string     `xml:"http://schemas.microsoft.com/rtc/2005/08/cccpextensions mcuUri,attr"`
	ConferenceKeys *xKeys     `xml:"urn:ietf:params:xml:ns:cccp conferenceKeys"`
	UserKeys       *xKeys     `xml:"urn:ietf:params:xml:ns:cccp userKeys"`
	MediaKeys      *xKeys     `xml:"urn:ietf:params:xml:ns:cccp mediaKeys"`
	Info           *xInfo     `xml:"urn:ietf:params:xml:ns:conference-info conference-info"`
	User           *xUser     `xml:"urn:ietf:params:xml:ns:conference-info user"`
	UserRoles      *xRoles    `xml:"urn:ietf:params:xml:ns:conference-info user-roles"`
	Media          *xMedia    `xml:"urn:ietf:params:xml:ns:conference-info media"`
	Locked         *string    `xml:"urn:ietf:params:xml:ns:cccp locked"`
	Access         *string    `xml:"urn:ietf:params:xml:ns:cccp access"`
	MCUTypes       *xMCUTypes `xml:"urn:ietf:params:xml:ns:cccp mcu-types"`
	Policies       *xPolicies `xml:"urn:ietf:params:xml:ns:cccp admission-policies"`
	MaxUsers       *string    `xml:"urn:ietf:params:xml:ns:cccp maximum-user-count"`
	Key            *xKey      `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions encryption-key"`
}

type xKeys struct {
	ConfEntity     string `xml:"confEntity,attr"`
	ConferenceID   string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions conference-id,attr"`
	UserEntity     string `xml:"userEntity,attr"`
	EndpointEntity string `xml:"endpointEntity,attr"`
	MediaID        string `xml:"mediaId,attr"`
}

// xInfo decodes an embedded <conference-info> with the confinfo decoder,
// keeping the namespace context of the enclosing document.
type xInfo struct{ doc *confinfo.Document }

func (x *xInfo) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	doc, err := confinfo.UnmarshalElement(d, start)
	if err != nil {
		return err
	}
	x.doc = doc
	return nil
}

type xUser struct {
	Entity      string      `xml:"entity,attr"`
	DisplayText string      `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Roles       *xRoles     `xml:"urn:ietf:params:xml:ns:conference-info roles"`
	Endpoints   []xEndpoint `xml:"urn:ietf:params:xml:ns:conference-info endpoint"`
}

type xRoles struct {
	Entries []string `xml:"urn:ietf:params:xml:ns:conference-info entry"`
}

type xEndpoint struct {
	Entity        string `xml:"entity,attr"`
	DisplayText   string `xml:"urn:ietf:params:xml:ns:conference-info display-text"`
	Status        string `xml:"urn:ietf:params:xml:ns:conference-info status"`
	JoiningMethod string `xml:"urn:ietf:params:xml:ns:conference-info joining-method"`
}

type xMedia struct {
	ID            string `xml:"id,attr"`
	Type          string `xml:"urn:ietf:params:xml:ns:conference-info type"`
	Label         string `xml:"urn:ietf:params:xml:ns:conference-info label"`
	Status        string `xml:"urn:ietf:params:xml:ns:conference-info status"`
	IngressFilter string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions media-ingress-filter"`
	EgressFilter  string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions media-egress-filter"`
}

type xMCUTypes struct {
	Types []string `xml:"urn:ietf:params:xml:ns:cccp mcuType"`
}

type xPolicies struct {
	Policies []string `xml:"urn:ietf:params:xml:ns:cccp policy"`
}

type xKey struct {
	ID  string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions key-id"`
	Key string `xml:"http://schemas.microsoft.com/rtc/2005/08/confinfoextensions key"`
}

// Decode reads a C3P request. A request that carries no command or
// several gives ErrNoCommand; an unknown one ErrUnknownCommand. With
// either, and with ErrMalformed from a command whose fields do not parse,
// the Request is returned too, with its envelope filled in, so the caller
// can address its failure response; with other errors it is nil.
func Decode(b []byte) (*Request, error) {
	if err := confinfo.CheckLimits(b, MaxRequestSize, maxDepth, maxElements); err != nil {
		return nil, limitErr(err)
	}
	var x xRequest
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	r := &Request{
		Version: strings.TrimSpace(x.Version),
		ID:      strings.TrimSpace(x.ID),
		From:    strings.TrimSpace(x.From),
		To:      strings.TrimSpace(x.To),
	}
	if !validID(r.ID) {
		return nil, fmt.Errorf("%w: requestId %q is not a non-negative integer", ErrMalformed, x.ID)
	}
	if len(x.Commands) != 1 {
		return r, fmt.Errorf("%w: it has %d", ErrNoCommand, len(x.Commands))
	}
	cmd, err := x.Commands[0].command()
	r.Command = cmd
	return r, err
}

func limitErr(err error) error {
	if errors.Is(err, confinfo.ErrTooLarge) {
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}

func validID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

func (x *xCommand) command() (Command, error) {
	name := x.XMLName.Local
	if x.XMLName.Space != Namespace {
		return Unknown{Element: name}, fmt.Errorf("%w: %q in namespace %q", ErrUnknownCommand, name, x.XMLName.Space)
	}
	switch name {
	case CmdGetConferencingCapabilities:
		return GetConferencingCapabilities{}, nil
	case CmdGetAvailableMCUTypes:
		return GetAvailableMCUTypes{}, nil
	case CmdAddConference:
		if x.Info == nil {
			return AddConference{}, fmt.Errorf("%w: addConference without conference-info", ErrMalformed)
		}
		return AddConference{Info: x.Info.doc}, nil
	case CmdModifyConference:
		c := ModifyConference{Keys: x.ConferenceKeys.keys()}
		if x.Info == nil {
			return c, fmt.Errorf("%w: modifyConference without conference-info", ErrMalformed)
		}
		c.Info = x.Info.doc
		return c, nil
	case CmdDeleteConference:
		return DeleteConference{Keys: x.ConferenceKeys.keys()}, nil
	case CmdGetConference:
		return GetConference{Keys: x.ConferenceKeys.keys()}, nil
	case CmdGetEncryptionKey:
		return GetEncryptionKey{Keys: x.ConferenceKeys.keys()}, nil
	case CmdAddUser:
		c := AddUser{Keys: x.ConferenceKeys.keys()}
		if x.User == nil {
			return c, fmt.Errorf("%w: addUser without user", ErrMalformed)
		}
		c.User = x.User.user()
		return c, nil
	case CmdDeleteUser:
		return DeleteUser{Keys: x.UserKeys.keys()}, nil
	case CmdModifyUserRoles:
		c := ModifyUserRoles{Keys: x.UserKeys.keys()}
		if x.UserRoles == nil {
			return c, fmt.Errorf("%w: modifyUserRoles without user-roles", ErrMalformed)
		}
		c.Roles = trimAll(x.UserRoles.Entries)
		return c, nil
	case CmdModifyEndpointMedia:
		c := ModifyEndpointMedia{MCUURI: strings.TrimSpace(x.MCUURI), Keys: x.MediaKeys.keys()}
		if x.Media == nil {
			return c, fmt.Errorf("%w: modifyEndpointMedia without media", ErrMalformed)
		}
		m := x.Media
		c.Media = confinfo.Media{ID: strings.TrimSpace(m.ID), Type: strings.TrimSpace(m.Type), Label: strings.TrimSpace(m.Label),
			Status: strings.TrimSpace(m.Status), IngressFilter: strings.TrimSpace(m.IngressFilter),
			EgressFilter: strings.TrimSpace(m.EgressFilter)}
		for _, f := range []string{c.Media.IngressFilter, c.Media.EgressFilter} {
			if f != "" && f != confinfo.FilterBlock && f != confinfo.FilterUnblock {
				return c, fmt.Errorf("%w: media filter %q (block or unblock)", ErrMalformed, f)
			}
		}
		return c, nil
	case CmdModifyConferenceLock:
		c := ModifyConferenceLock{Keys: x.ConferenceKeys.keys()}
		if x.Locked == nil {
			return c, fmt.Errorf("%w: modifyConferenceLock without locked", ErrMalformed)
		}
		locked, err := parseBool(*x.Locked)
		c.Locked = locked
		return c, err
	case CmdSetLobbyAccess:
		c := SetLobbyAccess{Keys: x.UserKeys.keys()}
		if x.Access != nil {
			c.Access = strings.TrimSpace(*x.Access)
		}
		if c.Access != AccessGranted && c.Access != AccessDenied {
			return c, fmt.Errorf("%w: access %q (granted or denied)", ErrMalformed, c.Access)
		}
		return c, nil
	}
	return Unknown{Element: name}, fmt.Errorf("%w: %q", ErrUnknownCommand, name)
}

func (x *xKeys) keys() Keys {
	if x == nil {
		return Keys{}
	}
	return Keys{
		ConfEntity:     strings.TrimSpace(x.ConfEntity),
		ConferenceID:   strings.TrimSpace(x.ConferenceID),
		UserEntity:     strings.TrimSpace(x.UserEntity),
		EndpointEntity: strings.TrimSpace(x.EndpointEntity),
		MediaID:        strings.TrimSpace(x.MediaID),
	}
}

func (x *xUser) user() confinfo.User {
	u := confinfo.User{Entity: strings.TrimSpace(x.Entity), DisplayText: x.DisplayText}
	if x.Roles != nil {
		u.Roles = trimAll(x.Roles.Entries)
	}
	for _, e := range x.Endpoints {
		u.Endpoints = append(u.Endpoints, confinfo.Endpoint{Entity: strings.TrimSpace(e.Entity), DisplayText: e.DisplayText,
			Status: strings.TrimSpace(e.Status), JoiningMethod: strings.TrimSpace(e.JoiningMethod)})
	}
	return u
}

func trimAll(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// parseBool takes the xs:boolean lexical forms.
func parseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%w: boolean %q", ErrMalformed, s)
}

type xResponse struct {
	XMLName  xml.Name   `xml:"urn:ietf:params:xml:ns:cccp response"`
	Version  string     `xml:"C3PVersion,attr"`
	ID       string     `xml:"requestId,attr"`
	From     string     `xml:"from,attr"`
	To       string     `xml:"to,attr"`
	Code     string     `xml:"code,attr"`
	Reason   string     `xml:"reason,attr"`
	Commands []xCommand `xml:",any"`
}

// DecodeResponse reads a C3P response, as a client of the Focus or the
// Focus Factory (and Confab's tests) does.
func DecodeResponse(b []byte) (*Response, error) {
	if err := confinfo.CheckLimits(b, MaxResponseSize, maxDepth+confinfoDepth, maxElements); err != nil {
		return nil, limitErr(err)
	}
	var x xResponse
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	res := &Response{
		Version: strings.TrimSpace(x.Version), ID: strings.TrimSpace(x.ID),
		From: strings.TrimSpace(x.From), To: strings.TrimSpace(x.To),
		Code: Code(strings.TrimSpace(x.Code)), Reason: strings.TrimSpace(x.Reason),
	}
	if res.Code != Success && res.Code != Failure {
		return nil, fmt.Errorf("%w: code %q", ErrMalformed, x.Code)
	}
	if !validID(res.ID) {
		return nil, fmt.Errorf("%w: requestId %q", ErrMalformed, x.ID)
	}
	if len(x.Commands) != 1 {
		return nil, fmt.Errorf("%w: a response echoes one command, this has %d", ErrMalformed, len(x.Commands))
	}
	c := &x.Commands[0]
	res.Command = c.XMLName.Local
	for _, k := range []*xKeys{c.ConferenceKeys, c.UserKeys, c.MediaKeys} {
		if k != nil {
			keys := k.keys()
			res.Keys = &keys
		}
	}
	if c.Info != nil {
		if d := c.Info.doc; d.Users != nil || d.ConfState != nil || d.Description != nil {
			res.Info = d
		} else {
			res.ConferenceEntity = d.Entity
		}
	}
	if c.User != nil {
		u := c.User.user()
		res.User = &u
	}
	if c.MCUTypes != nil {
		res.MCUTypes = trimAll(c.MCUTypes.Types)
	}
	if c.Policies != nil || c.MaxUsers != nil {
		caps := &Capabilities{MCUTypes: res.MCUTypes}
		if c.Policies != nil {
			caps.AdmissionPolicies = trimAll(c.Policies.Policies)
		}
		if c.MaxUsers != nil {
			n, err := strconv.ParseUint(strings.TrimSpace(*c.MaxUsers), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%w: maximum-user-count %q", ErrMalformed, *c.MaxUsers)
			}
			caps.MaxUserCount = uint32(n)
		}
		res.Capabilities = caps
	}
	if c.Key != nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.Key.Key))
		if err != nil {
			return nil, fmt.Errorf("%w: encryption key: %v", ErrMalformed, err)
		}
		res.Key = &EncryptionKey{ID: strings.TrimSpace(c.Key.ID), Key: key}
	}
	return res, nil
}

// confinfoDepth is how deep a conference-info document may nest inside a
// response.
const confinfoDepth = 8
