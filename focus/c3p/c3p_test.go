package c3p

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"confab/focus/confinfo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	factoryURI = "sip:alice@confab.example;gruu;opaque=app:conf:focusfactory"
	focusURI   = "sip:alice@confab.example;gruu;opaque=app:conf:focus:id:K7Q2M9XA"
	alice      = "sip:alice@confab.example"
	bob        = "sip:bob@confab.example"
)

func request(to string, cmd Command) *Request {
	return &Request{Version: Version, ID: "17", From: alice, To: to, Command: cmd}
}

// requests holds one request of every command, in the shapes the package
// documentation lists.
var requests = []struct {
	name string
	file string
	req  *Request
}{
	{"getConferencingCapabilities is an empty element", "getConferencingCapabilities.xml",
		request(factoryURI, GetConferencingCapabilities{})},
	{"getAvailableMcuTypes is an empty element", "getAvailableMcuTypes.xml",
		request(factoryURI, GetAvailableMCUTypes{})},
	{"addConference carries a conference-info with the scheduling extensions", "addConference.xml",
		request(factoryURI, AddConference{Info: &confinfo.Document{
			Description: &confinfo.Description{
				Subject: "Quarterly review", ConferenceID: "K7Q2M9XA", AdmissionPolicy: "openAuthenticated",
				ExpiryTime: confinfo.Ptr(time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)), MaxUserCount: confinfo.Ptr(uint32(25)),
			},
			ConfState: &confinfo.ConferenceState{Locked: confinfo.Ptr(false)},
		}})},
	{"modifyConference carries keys and the fields to change", "modifyConference.xml",
		request(factoryURI, ModifyConference{Keys: Keys{ConfEntity: focusURI},
			Info: &confinfo.Document{Entity: focusURI, Description: &confinfo.Description{Subject: "Moved to Friday"}}})},
	{"deleteConference carries conference keys", "deleteConference.xml",
		request(factoryURI, DeleteConference{Keys: Keys{ConfEntity: focusURI}})},
	{"getConference may name the conference by its msci:conference-id", "getConference.xml",
		request(factoryURI, GetConference{Keys: Keys{ConferenceID: "K7Q2M9XA"}})},
	{"getEncryptionKey carries conference keys", "getEncryptionKey.xml",
		request(factoryURI, GetEncryptionKey{Keys: Keys{ConfEntity: focusURI}})},
	{"addUser joins the sender with the role it asks for", "addUser.xml",
		request(focusURI, AddUser{Keys: Keys{ConfEntity: focusURI}, User: confinfo.User{
			Entity: alice, Roles: []string{"attendee"},
			Endpoints: []confinfo.Endpoint{{Entity: "{5C2D8A46-0D3B-4F52-9C43-0A8F3A16E0B1}"}},
		}})},
	{"addUser with a dialed-out endpoint asks the Focus to call someone", "addUser-dialout.xml",
		request(focusURI, AddUser{Keys: Keys{ConfEntity: focusURI}, User: confinfo.User{
			Entity: bob, DisplayText: "Bob", Roles: []string{"attendee"},
			Endpoints: []confinfo.Endpoint{{Entity: "sip:bob@192.0.2.7:5062", JoiningMethod: "dialed-out"}},
		}})},
	{"deleteUser carries user keys", "deleteUser.xml",
		request(focusURI, DeleteUser{Keys: Keys{ConfEntity: focusURI, UserEntity: bob}})},
	{"modifyUserRoles lists the new roles in the conference-info namespace", "modifyUserRoles.xml",
		request(focusURI, ModifyUserRoles{Keys: Keys{ConfEntity: focusURI, UserEntity: bob}, Roles: []string{"presenter"}})},
	{"modifyEndpointMedia mutes through the ingress filter", "modifyEndpointMedia-mute.xml",
		request(focusURI, ModifyEndpointMedia{
			MCUURI: "sip:alice@confab.example;gruu;opaque=app:conf:audio-video:id:K7Q2M9XA",
			Keys:   Keys{ConfEntity: focusURI, UserEntity: bob, EndpointEntity: "sip:bob@confab.example;member=2", MediaID: "1"},
			Media:  confinfo.Media{ID: "1", Type: "audio", Status: "sendrecv", IngressFilter: confinfo.FilterBlock},
		})},
	{"modifyEndpointMedia deafens through the egress filter", "modifyEndpointMedia-deaf.xml",
		request(focusURI, ModifyEndpointMedia{
			Keys:  Keys{ConfEntity: focusURI, UserEntity: bob, EndpointEntity: "sip:bob@confab.example;member=2", MediaID: "1"},
			Media: confinfo.Media{ID: "1", Type: "audio", EgressFilter: confinfo.FilterBlock},
		})},
	{"modifyConferenceLock carries locked", "modifyConferenceLock.xml",
		request(focusURI, ModifyConferenceLock{Keys: Keys{ConfEntity: focusURI}, Locked: true})},
	{"setLobbyAccess grants or denies one user", "setLobbyAccess.xml",
		request(focusURI, SetLobbyAccess{Keys: Keys{ConfEntity: focusURI, UserEntity: bob}, Access: AccessDenied})},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what Encode writes:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestRequestGolden(t *testing.T) {
	for _, tt := range requests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.req.Encode()
			golden(t, tt.file, b)
			back, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode of what Encode wrote: %v", err)
			}
			if !reflect.DeepEqual(back, tt.req) {
				t.Errorf("round trip changed the request:\n got %#v\nwant %#v", back, tt.req)
			}
		})
	}
}

var responses = []struct {
	name string
	file string
	res  *Response
}{
	{"addConference answers with the new Focus URI", "addConference-response.xml", &Response{
		Version: Version, ID: "17", From: factoryURI, To: alice, Code: Success, Command: CmdAddConference,
		ConferenceEntity: focusURI}},
	{"getConference answers with the full state", "getConference-response.xml", &Response{
		Version: Version, ID: "18", From: factoryURI, To: alice, Code: Success, Command: CmdGetConference,
		Keys: &Keys{ConferenceID: "K7Q2M9XA"},
		Info: &confinfo.Document{Entity: focusURI, State: confinfo.Full, Version: 1,
			Description: &confinfo.Description{Subject: "Quarterly review", ConferenceID: "K7Q2M9XA", AdmissionPolicy: "anonymous"},
			ConfState:   &confinfo.ConferenceState{UserCount: confinfo.Ptr(uint32(0)), Active: confinfo.Ptr(false), Locked: confinfo.Ptr(false)},
			Users:       &confinfo.Users{State: confinfo.Full}}}},
	{"getConferencingCapabilities lists MCU types and policies", "getConferencingCapabilities-response.xml", &Response{
		Version: Version, ID: "19", From: factoryURI, To: alice, Code: Success, Command: CmdGetConferencingCapabilities,
		MCUTypes: []string{"audio-video"},
		Capabilities: &Capabilities{MCUTypes: []string{"audio-video"},
			AdmissionPolicies: []string{"anonymous", "openAuthenticated", "closedAuthenticated"}, MaxUserCount: 250}}},
	{"getAvailableMcuTypes lists the MCU types", "getAvailableMcuTypes-response.xml", &Response{
		Version: Version, ID: "20", From: factoryURI, To: alice, Code: Success, Command: CmdGetAvailableMCUTypes,
		MCUTypes: []string{"audio-video"}}},
	{"getEncryptionKey answers with a key", "getEncryptionKey-response.xml", &Response{
		Version: Version, ID: "21", From: factoryURI, To: alice, Code: Success, Command: CmdGetEncryptionKey,
		Keys: &Keys{ConfEntity: focusURI}, Key: &EncryptionKey{ID: "1", Key: []byte("0123456789abcdef0123456789abcdef")}}},
	{"addUser answers with the role granted", "addUser-response.xml", &Response{
		Version: Version, ID: "22", From: focusURI, To: alice, Code: Success, Command: CmdAddUser,
		Keys: &Keys{ConfEntity: focusURI}, User: &confinfo.User{Entity: alice, Roles: []string{"presenter"}}}},
	{"a refused command echoes it with the reason", "modifyUserRoles-failure.xml", &Response{
		Version: Version, ID: "23", From: focusURI, To: bob, Code: Failure, Reason: ReasonForbidden,
		Command: CmdModifyUserRoles, Keys: &Keys{ConfEntity: focusURI, UserEntity: alice}}},
}

func TestResponseGolden(t *testing.T) {
	for _, tt := range responses {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.res.Encode()
			golden(t, tt.file, b)
			back, err := DecodeResponse(b)
			if err != nil {
				t.Fatalf("DecodeResponse of what Encode wrote: %v", err)
			}
			if !reflect.DeepEqual(back, tt.res) {
				t.Errorf("round trip changed the response:\n got %#v\nwant %#v", back, tt.res)
			}
		})
	}
}

func TestDecodeOtherPrefixes(t *testing.T) {
	// Written by hand in the shape clients send: conference-info under a
	// ci prefix declared on the element, extensions under msci.
	b, err := os.ReadFile(filepath.Join("testdata", "addConference-prefixed.xml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := &Request{Version: "1", ID: "68537848", From: alice, To: factoryURI, Command: AddConference{Info: &confinfo.Document{
		Description: &confinfo.Description{Subject: "Status", ConferenceID: "TPDD8VYG", AdmissionPolicy: "openAuthenticated",
			ExpiryTime: confinfo.Ptr(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))},
		ConfState: &confinfo.ConferenceState{Locked: confinfo.Ptr(true)},
	}}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Decode = %#v\nwant %#v", r, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	const open = `<request xmlns="urn:ietf:params:xml:ns:cccp" C3PVersion="1" requestId="5" from="` + alice + `" to="` + focusURI + `">`
	tests := []struct {
		name     string
		body     string
		want     error
		envelope bool // the Request comes back for the failure response
		command  string
	}{
		{"a request without a command is refused", open + `</request>`, ErrNoCommand, true, ""},
		{"a request with two commands is refused", open + `<deleteUser/><deleteUser/></request>`, ErrNoCommand, true, ""},
		{"an unknown command is named for the failure response", open + `<endorseUser/></request>`, ErrUnknownCommand, true, "endorseUser"},
		{"a command in another namespace is unknown", open + `<x:addUser xmlns:x="urn:example"/></request>`, ErrUnknownCommand, true, "addUser"},
		{"a lock that is not a boolean is malformed", open + `<modifyConferenceLock><locked>yes</locked></modifyConferenceLock></request>`,
			ErrMalformed, true, CmdModifyConferenceLock},
		{"a lobby decision other than granted or denied is malformed", open + `<setLobbyAccess><access>maybe</access></setLobbyAccess></request>`,
			ErrMalformed, true, CmdSetLobbyAccess},
		{"an unknown media filter is malformed", open + `<modifyEndpointMedia><media xmlns="urn:ietf:params:xml:ns:conference-info" id="1">` +
			`<media-ingress-filter xmlns="` + confinfo.MSNamespace + `">mute</media-ingress-filter></media></modifyEndpointMedia></request>`,
			ErrMalformed, true, CmdModifyEndpointMedia},
		{"addUser without a user is malformed", open + `<addUser/></request>`, ErrMalformed, true, CmdAddUser},
		{"a requestId that is not a number is malformed",
			`<request xmlns="urn:ietf:params:xml:ns:cccp" requestId="x"><deleteUser/></request>`, ErrMalformed, false, ""},
		{"a root in another namespace is malformed", `<request xmlns="urn:example" requestId="1"><deleteUser/></request>`, ErrMalformed, false, ""},
		{"a response is not a request", `<response xmlns="urn:ietf:params:xml:ns:cccp" requestId="1" code="success"/>`, ErrMalformed, false, ""},
		{"a body over the size limit is too large", open + strings.Repeat(" ", MaxRequestSize) + `<deleteUser/></request>`, ErrTooLarge, false, ""},
		{"deep nesting is too large", open + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</request>`, ErrTooLarge, false, ""},
		{"a DTD is refused", `<!DOCTYPE request [<!ENTITY x "y">]>` + open + `<deleteUser/></request>`, ErrMalformed, false, ""},
		{"truncated XML is malformed", open + `<deleteUser>`, ErrMalformed, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode error = %v, want %v", err, tt.want)
			}
			if (r != nil) != tt.envelope {
				t.Fatalf("Decode returned request %v, want one: %v", r, tt.envelope)
			}
			if r == nil {
				return
			}
			if r.ID != "5" || r.From != alice || r.To != focusURI {
				t.Errorf("envelope = %+v, want id 5 from alice to the Focus", r)
			}
			res := r.Answer(Failure, ReasonMalformed)
			if res.Command != tt.command || res.ID != "5" || res.To != alice || res.From != focusURI {
				t.Errorf("failure response = %+v, want command %q addressed back to alice", res, tt.command)
			}
		})
	}
}

func fuzzSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecode feeds the request decoder arbitrary bodies: no panic, only
// the package's errors, and what it accepts survives Encode and Decode
// unchanged once normalised.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNoCommand) &&
				!errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		once := r.Encode()
		r2, err := Decode(once)
		if err != nil {
			t.Fatalf("Decode of Encode output: %v\n%s", err, once)
		}
		if twice := r2.Encode(); !bytes.Equal(once, twice) {
			t.Fatalf("Encode is not stable:\n%s\n%s", once, twice)
		}
	})
}

// FuzzDecodeResponse does the same for responses.
func FuzzDecodeResponse(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := DecodeResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		_ = res.Encode()
	})
}
