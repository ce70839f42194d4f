package sipfront

import (
	"context"
	"fmt"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestReferTo(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
		bye    bool
		ok     bool
	}{
		{"a participant URI is taken without its parameters", []string{"<sip:bob@192.0.2.7:5062;user=phone>"},
			"sip:bob@192.0.2.7:5062", false, true},
		{"method=BYE asks for removal", []string{"<sip:bob@phones.example;method=BYE>"}, "sip:bob@phones.example", true, true},
		{"the transport parameter is kept for the call", []string{"<sip:bob@phones.example;transport=tcp>"},
			"sip:bob@phones.example;transport=tcp", false, true},
		{"method=INVITE is a call", []string{"<sip:bob@phones.example;method=INVITE>"}, "sip:bob@phones.example", false, true},
		{"another method is refused", []string{"<sip:bob@phones.example;method=MESSAGE>"}, "", false, false},
		{"two Refer-To headers are refused", []string{"<sip:a@x>", "<sip:b@x>"}, "", false, false},
		{"no Refer-To is refused", nil, "", false, false},
		{"a Refer-To that is not a URI is refused", []string{"<>"}, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sip.NewRequest(sip.REFER, sip.Uri{Scheme: "sip", User: "7001", Host: "box"})
			for _, v := range tt.values {
				req.AppendHeader(sip.NewHeader("Refer-To", v))
			}
			got, bye, err := referTo(req)
			if (err == nil) != tt.ok || got != tt.want || bye != tt.bye {
				t.Errorf("referTo = %q, %t, %v; want %q, %t, ok %t", got, bye, err, tt.want, tt.bye, tt.ok)
			}
		})
	}
}

func TestSipfrag(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a call that joined is 200", nil, "SIP/2.0 200 OK"},
		{"a refusal carries its status", &StatusError{Code: 486, Reason: "Busy\r\nHere"}, "SIP/2.0 486 BusyHere"},
		{"a call nobody answered timed out", fmt.Errorf("dial: %w", context.DeadlineExceeded), "SIP/2.0 408 Request Timeout"},
		{"anything else is 503", errBoom, "SIP/2.0 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sipfrag(tt.err); got != tt.want {
				t.Errorf("sipfrag = %q, want %q", got, tt.want)
			}
		})
	}
}
