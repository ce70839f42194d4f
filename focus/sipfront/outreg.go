package sipfront

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// OutboundRegistration is a registration the Front keeps with a
// provider's registrar, for a SIP trunk that delivers calls only to a
// registered customer (RFC 3261 §10.2).
type OutboundRegistration struct {
	Name      string // the trunk, for status and logs
	Registrar string // sip: URI of the provider's registrar
	Username  string
	Password  string
	Expiry    time.Duration // asked for; 0 means one hour
}

// OutboundState is how a registration stands.
type OutboundState struct {
	Registered bool
	Expires    time.Time // when the provider forgets us unless refreshed
	LastError  string
	At         time.Time // of the last attempt
}

type outboundRegs struct {
	mu    sync.Mutex
	state map[string]OutboundState
}

// Registrations reports each outbound registration by trunk name.
func (f *Front) Registrations() map[string]OutboundState {
	f.outregs.mu.Lock()
	defer f.outregs.mu.Unlock()
	out := make(map[string]OutboundState, len(f.outregs.state))
	for k, v := range f.outregs.state {
		out[k] = v
	}
	return out
}

func (f *Front) setRegState(name string, s OutboundState) {
	f.outregs.mu.Lock()
	if f.outregs.state == nil {
		f.outregs.state = make(map[string]OutboundState)
	}
	f.outregs.state[name] = s
	f.outregs.mu.Unlock()
}

// KeepRegistered registers with r.Registrar and refreshes the binding
// before it expires (at half the granted time), retrying with back-off on
// failure, until ctx ends; then it unregisters (Expires: 0). It blocks.
func (f *Front) KeepRegistered(ctx context.Context, r OutboundRegistration) error {
	select {
	case <-f.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	var u sip.Uri
	if err := sip.ParseUri(r.Registrar, &u); err != nil || u.Host == "" {
		return fmt.Errorf("%w: registrar %q", ErrBadTarget, r.Registrar)
	}
	if r.Expiry <= 0 {
		r.Expiry = time.Hour
	}
	callID := sip.GenerateTagN(24) + "@" + f.cfg.domain
	cseq := randomCSeq()
	backoff := 5 * time.Second
	for {
		cseq += 2
		granted, err := f.register(ctx, u, r, callID, cseq, r.Expiry)
		now := f.cfg.now()
		wait := granted / 2
		if err != nil {
			f.setRegState(r.Name, OutboundState{LastError: err.Error(), At: now})
			f.log.Warn("outbound registration failed", "trunk", r.Name, "registrar", r.Registrar, "error", err)
			wait, backoff = backoff, min(2*backoff, 5*time.Minute)
		} else {
			f.setRegState(r.Name, OutboundState{Registered: true, Expires: now.Add(granted), At: now})
			backoff = 5 * time.Second
		}
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			// Leave the provider's table clean (RFC 3261 §10.2.2).
			bye, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = f.register(bye, u, r, callID, cseq+2, 0)
			cancel()
			f.setRegState(r.Name, OutboundState{At: f.cfg.now()})
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// register sends one REGISTER, answering a digest challenge, and returns
// the expiry the registrar granted.
func (f *Front) register(ctx context.Context, registrar sip.Uri, r OutboundRegistration, callID string, cseq uint32, expiry time.Duration) (time.Duration, error) {
	transport := "UDP"
	if tp, ok := registrar.UriParams.Get("transport"); ok && strings.EqualFold(tp, "tcp") {
		transport = "TCP"
	}
	host, port := f.localHostPort(registrar.Host)
	aor := sip.Uri{Scheme: "sip", User: r.Username, Host: registrar.Host}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: registrar.Scheme, Host: registrar.Host, Port: registrar.Port, UriParams: registrar.UriParams})
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	cid := sip.CallIDHeader(callID)
	maxfwd := sip.MaxForwardsHeader(70)
	exp := sip.ExpiresHeader(uint32(expiry / time.Second))
	req.AppendHeader(f.viaFor(transport, host, port))
	req.AppendHeader(&maxfwd)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	req.AppendHeader(f.contactFor(sip.Uri{User: r.Username}, host, port, transport))
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("User-Agent", f.cfg.userAgent))
	req.SetTransport(transport)
	if transport == "UDP" {
		f.udpLaddr.Copy(&req.Laddr)
	}
	res, err := f.send(ctx, req)
	if err != nil {
		return 0, err
	}
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
		res, err = f.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: r.Username, Password: r.Password})
		if err != nil {
			return 0, err
		}
	}
	if res.StatusCode != sip.StatusOK {
		return 0, &StatusError{Code: res.StatusCode, Reason: res.Reason}
	}
	granted := expiry
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			granted = time.Duration(n) * time.Second
		}
	}
	return granted, nil
}
