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
		attr("xmlns", Namespace).
		attr("xmlns:mscp", ExtNamespace).
		attr("C3PVersion", r.Version).
		attr("requestId", r.ID).
		attr("from", r.From).
		attr("to", r.To)
	if r.Command != nil {
		root.add(commandNode(r.Command))
	}
	return render(root)
}

// Encode writes the response as an application/cccp+xml body.
func (res *Response) Encode() []byte {
	root := el("response").
		attr("xmlns", Namespace).
		attr("xmlns:mscp", ExtNamespace).
		attr("C3PVersion", res.Version).
		attr("requestId", res.ID).
		attr("from", res.From).
		attr("to", res.To).
		attr("code", string(res.Code)).
		attr("reason", res.Reason)
	cmd := el(res.Command)
	if res.Keys != nil {
		cmd.add(keysNode(keysElement(res.Command), *res.Keys))
	}
	switch {
	case res.Info != nil:
		cmd.add(infoNode(res.Info))
	case res.ConferenceEntity != "":
		cmd.add(infoNode(&confinfo.Document{Entity: res.ConferenceEntity}))
	}
	if res.User != nil {
		cmd.add(userNode(res.User))
	}
	types := res.MCUTypes
	if res.Capabilities != nil && len(types) == 0 {
		types = res.Capabilities.MCUTypes
	}
	if len(types) > 0 {
		n := el("mcu-types")
		for _, t := range types {
			n.add(leaf("mcuType", t))
		}
		cmd.add(n)
	}
	if c := res.Capabilities; c != nil {
		if len(c.AdmissionPolicies) > 0 {
			n := el("admission-policies")
			for _, p := range c.AdmissionPolicies {
				n.add(leaf("policy", p))
			}
			cmd.add(n)
		}
		if c.MaxUserCount > 0 {
			cmd.add(leaf("maximum-user-count", strconv.FormatUint(uint64(c.MaxUserCount), 10)))
		}
	}
	if k := res.Key; k != nil {
		cmd.add(el("encryption-key").attr("xmlns", confinfo.MSNamespace).add(
			leaf("key-id", k.ID),
			leaf("key", base64.StdEncoding.EncodeToString(k.Key))))
	}
	return render(root.add(cmd))
}

func render(root *node) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader)
	root.write(&b, "", 0)
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
		n.add(infoNode(c.Info))
	case ModifyConference:
		n.add(keysNode("conferenceKeys", c.Keys), infoNode(c.Info))
	case DeleteConference:
		n.add(keysNode("conferenceKeys", c.Keys))
	case GetConference:
		n.add(keysNode("conferenceKeys", c.Keys))
	case GetEncryptionKey:
		n.add(keysNode("conferenceKeys", c.Keys))
	case AddUser:
		n.add(keysNode("conferenceKeys", c.Keys), userNode(&c.User))
	case DeleteUser:
		n.add(keysNode("userKeys", c.Keys))
	case ModifyUserRoles:
		roles := el("user-roles").attr("xmlns", confinfo.Namespace)
		for _, r := range c.Roles {
			roles.add(leaf("entry", r))
		}
		n.add(keysNode("userKeys", c.Keys), roles)
	case ModifyEndpointMedia:
		if c.MCUURI != "" {
			n.attr("mscp:mcuUri", c.MCUURI)
		}
		n.add(keysNode("mediaKeys", c.Keys), mediaNode(c.Media))
	case ModifyConferenceLock:
		n.add(keysNode("conferenceKeys", c.Keys), leaf("locked", strconv.FormatBool(c.Locked)))
	case SetLobbyAccess:
		n.add(keysNode("userKeys", c.Keys), leaf("access", c.Access))
	}
	return n
}

func keysNode(name string, k Keys) *node {
	n := el(name)
	if k.ConferenceID != "" {
		n.attr("xmlns:msci", confinfo.MSNamespace)
	}
	return n.attr("confEntity", k.ConfEntity).
		attr("msci:conference-id", k.ConferenceID).
		attr("userEntity", k.UserEntity).
		attr("endpointEntity", k.EndpointEntity).
		attr("mediaId", k.MediaID)
}

func infoNode(d *confinfo.Document) *node {
	if d == nil {
		return nil
	}
	return &node{fragment: d.Fragment}
}

func userNode(u *confinfo.User) *node {
	n := el("user").attr("xmlns", confinfo.Namespace).attr("entity", u.Entity)
	n.add(leaf("display-text", u.DisplayText))
	if len(u.Roles) > 0 {
		roles := el("roles")
		for _, r := range u.Roles {
			roles.add(leaf("entry", r))
		}
		n.add(roles)
	}
	for _, e := range u.Endpoints {
		n.add(el("endpoint").attr("entity", e.Entity).add(
			leaf("display-text", e.DisplayText),
			leaf("status", e.Status),
			leaf("joining-method", e.JoiningMethod)))
	}
	return n
}

func mediaNode(m confinfo.Media) *node {
	n := el("media").attr("xmlns", confinfo.Namespace)
	if m.IngressFilter != "" || m.EgressFilter != "" {
		n.attr("xmlns:msci", confinfo.MSNamespace)
	}
	return n.attr("id", m.ID).add(
		leaf("type", m.Type),
		leaf("label", m.Label),
		leaf("status", m.Status),
		leaf("msci:media-ingress-filter", m.IngressFilter),
		leaf("msci:media-egress-filter", m.EgressFilter))
}
