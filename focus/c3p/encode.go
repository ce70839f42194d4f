package c3p

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"confab/focus/confinfo"
)

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// Encode writes the request as an application/cccp+xml body. Conference
// data is written in the conference-info namespace, declared as the
// default namespace of the element that carries it.
func (r *Request) Encode() []byte {
	root := el("request").
		Attr("xmlns", Namespace).
		Attr("xmlns:mscp", ExtNamespace).
		Attr("C3PVersion", r.Version).
		Attr("requestId", r.ID).
		Attr("from", r.From).
		Attr("to", r.To)
	if r.Command != nil {
		root.Add(commandNode(r.Command))
	}
	return render(root)
}

// Encode writes the response as an application/cccp+xml body.
func (res *Response) Encode() []byte {
	root := el("response").
		Attr("xmlns", Namespace).
		Attr("xmlns:mscp", ExtNamespace).
		Attr("C3PVersion", res.Version).
		Attr("requestId", res.ID).
		Attr("from", res.From).
		Attr("to", res.To).
		Attr("code", string(res.Code)).
		Attr("reason", res.Reason)
	cmd := el(res.Command)
	if res.Keys != nil {
		cmd.Add(keysNode(keysElement(res.Command), *res.Keys))
	}
	switch {
	case res.Info != nil:
		cmd.Add(infoNode(res.Info))
	case res.ConferenceEntity != "":
		cmd.Add(infoNode(&confinfo.Document{Entity: res.ConferenceEntity}))
	}
	if res.User != nil {
		cmd.Add(userNode(res.User))
	}
	types := res.MCUTypes
	if res.Capabilities != nil && len(types) == 0 {
		types = res.Capabilities.MCUTypes
	}
	if len(types) > 0 {
		n := el("mcu-types")
		for _, t := range types {
			n.Add(leaf("mcuType", t))
		}
		cmd.Add(n)
	}
	if c := res.Capabilities; c != nil {
		if len(c.AdmissionPolicies) > 0 {
			n := el("admission-policies")
			for _, p := range c.AdmissionPolicies {
				n.Add(leaf("policy", p))
			}
			cmd.Add(n)
		}
		if c.MaxUserCount > 0 {
			cmd.Add(leaf("maximum-user-count", strconv.FormatUint(uint64(c.MaxUserCount), 10)))
		}
	}
	if k := res.Key; k != nil {
		cmd.Add(el("encryption-key").Attr("xmlns", confinfo.MSNamespace).Add(
			leaf("key-id", k.ID),
			leaf("key", base64.StdEncoding.EncodeToString(k.Key))))
	}
	return render(root.Add(cmd))
}

func render(root *node) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	root.Write(&b, "", 0)
	return b.Bytes()
}

// keysElement names the keys element a command's response echoes.
func keysElement(command string) string {
	switch command {
	case CmdDeleteUser, CmdModifyUserRoles, CmdSetLobbyAccess:
		return "userKeys"
	case CmdModifyEndpointMedia:
		return "mediaKeys"
	}
	return "conferenceKeys"
}

func commandNode(c Command) *node {
	n := el(c.Name())
	switch c := c.(type) {
	case AddConference:
		n.Add(infoNode(c.Info))
	case ModifyConference:
		n.Add(keysNode("conferenceKeys", c.Keys), infoNode(c.Info))
	case DeleteConference:
		n.Add(keysNode("conferenceKeys", c.Keys))
	case GetConference:
		n.Add(keysNode("conferenceKeys", c.Keys))
	case GetEncryptionKey:
		n.Add(keysNode("conferenceKeys", c.Keys))
	case AddUser:
		n.Add(keysNode("conferenceKeys", c.Keys), userNode(&c.User))
	case DeleteUser:
		n.Add(keysNode("userKeys", c.Keys))
	case ModifyUserRoles:
		roles := el("user-roles").Attr("xmlns", confinfo.Namespace)
		for _, r := range c.Roles {
			roles.Add(leaf("entry", r))
		}
		n.Add(keysNode("userKeys", c.Keys), roles)
	case ModifyEndpointMedia:
		if c.MCUURI != "" {
			n.Attr("mscp:mcuUri", c.MCUURI)
		}
		n.Add(keysNode("mediaKeys", c.Keys), mediaNode(c.Media))
	case ModifyConferenceLock:
		n.Add(keysNode("conferenceKeys", c.Keys), leaf("locked", strconv.FormatBool(c.Locked)))
	case SetLobbyAccess:
		n.Add(keysNode("userKeys", c.Keys), leaf("access", c.Access))
	}
	return n
}

func keysNode(name string, k Keys) *node {
	n := el(name)
	if k.ConferenceID != "" {
		n.Attr("xmlns:msci", confinfo.MSNamespace)
	}
	return n.Attr("confEntity", k.ConfEntity).
		Attr("msci:conference-id", k.ConferenceID).
		Attr("userEntity", k.UserEntity).
		Attr("endpointEntity", k.EndpointEntity).
		Attr("mediaId", k.MediaID)
}

func infoNode(d *confinfo.Document) *node {
	if d == nil {
		return nil
	}
	return &node{Fragment: d.Fragment}
}

func userNode(u *confinfo.User) *node {
	n := el("user").Attr("xmlns", confinfo.Namespace).Attr("entity", u.Entity)
	n.Add(leaf("display-text", u.DisplayText))
	if len(u.Roles) > 0 {
		roles := el("roles")
		for _, r := range u.Roles {
			roles.Add(leaf("entry", r))
		}
		n.Add(roles)
	}
	for _, e := range u.Endpoints {
		n.Add(el("endpoint").Attr("entity", e.Entity).Add(
			leaf("display-text", e.DisplayText),
			leaf("status", e.Status),
			leaf("joining-method", e.JoiningMethod)))
	}
	return n
}

func mediaNode(m confinfo.Media) *node {
	n := el("media").Attr("xmlns", confinfo.Namespace)
	if m.IngressFilter != "" || m.EgressFilter != "" {
		n.Attr("xmlns:msci", confinfo.MSNamespace)
	}
	return n.Attr("id", m.ID).Add(
		leaf("type", m.Type),
		leaf("label", m.Label),
		leaf("status", m.Status),
		leaf("msci:media-ingress-filter", m.IngressFilter),
		leaf("msci:media-egress-filter", m.EgressFilter))
}
