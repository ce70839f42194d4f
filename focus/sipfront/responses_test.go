package sipfront

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestFinalResponsesAreCountedByMethodAndClass(t *testing.T) {
	var r responseCounts
	for _, c := range []struct {
		method sip.RequestMethod
		code   int
	}{{sip.INVITE, 100}, {sip.INVITE, 180}, {sip.INVITE, 200}, {sip.INVITE, 486}, {sip.INVITE, 404}, {sip.REGISTER, 401}, {sip.BYE, 200}} {
		req := sip.NewRequest(c.method, sip.Uri{User: "7001", Host: "127.0.0.1"})
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: c.method})
		r.count(sip.NewResponseFromRequest(req, c.code, "", nil))
	}
	want := map[ResponseKey]uint64{{"INVITE", "2xx"}: 1, {"INVITE", "4xx"}: 2, {"REGISTER", "4xx"}: 1, {"BYE", "2xx"}: 1}
	if len(r.n) != len(want) {
		t.Fatalf("counts %v, want %v (provisional responses are not counted)", r.n, want)
	}
	for k, v := range want {
		if r.n[k] != v {
			t.Errorf("%v: %d, want %d", k, r.n[k], v)
		}
	}
}
