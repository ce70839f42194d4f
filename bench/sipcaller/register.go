package sipcaller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// Binding is one Contact a registrar holds for the user, with the time it
// has left (RFC 3261 §10.3 step 8).
type Binding struct {
	Contact string
	Expires time.Duration
}

// Registration is a registrar's 2xx to REGISTER.
type Registration struct {
	// Bindings are the Contacts the registrar now holds for the user.
	Bindings []Binding
	Response *sip.Response
}

// RegisterOption configures Register.
type RegisterOption func(*registerConfig)

type registerConfig struct {
	algorithm string
	query     bool
}

// WithAlgorithm answers the registrar's challenge for this digest
// algorithm ("MD5" or "SHA-256", RFC 8760) when it offers several; by
// default the first one offered, which is the registrar's preference
// (RFC 7616 §3.7).
func WithAlgorithm(alg string) RegisterOption {
	return func(c *registerConfig) { c.algorithm = strings.ToUpper(alg) }
}

// WithoutContact sends a REGISTER without Contact, which only asks for the
// current bindings (RFC 3261 §10.2.3).
func WithoutContact() RegisterOption { return func(c *registerConfig) { c.query = true } }

// regState keeps one Call-ID per registrar and user, with its CSeq
// counting up, as RFC 3261 §10.2 asks of a UA that registers again.
type regState struct {
	callID string
	cseq   uint32
}

// Register binds the Agent's address to user at registrar (a sip: URI such
// as "sip:127.0.0.1:5060") for expires (0 removes the binding). Without a
// password it sends no credentials, so a registrar that wants them answers
// 401. With one it answers a 401 or 407 challenge once. A final error
// response is a *StatusError.
func (a *Agent) Register(ctx context.Context, registrar, user, password string, expires time.Duration, opts ...RegisterOption) (*Registration, error) {
	if a.isClosed() {
		return nil, ErrClosed
	}
	var cfg registerConfig
	for _, o := range opts {
		o(&cfg)
	}
	u, transport, err := a.parseTarget(registrar)
	if err != nil {
		return nil, err
	}
	u.User = "" // RFC 3261 §10.2: the Request-URI names the domain only
	if expires < 0 {
		return nil, fmt.Errorf("sipcaller: negative expiry %v", expires)
	}
	state := a.regState(u.HostPort(), user)

	res, err := a.sendRegister(ctx, u, transport, user, state, expires, cfg, "", "")
	for attempt := 0; err == nil && attempt < 2 && password != "" && isChallenge(res); attempt++ {
		// A second challenge is only worth answering when it says our
		// nonce was stale (RFC 7616 §3.3); a plain one means the password
		// is wrong.
		if attempt == 1 && !staleChallenge(res) {
			break
		}
		var name, value string
		name, value, err = a.credentials(res, u, user, password, cfg.algorithm)
		if err != nil {
			return nil, err
		}
		res, err = a.sendRegister(ctx, u, transport, user, state, expires, cfg, name, value)
	}
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason, Response: res}
	}
	reg := &Registration{Response: res}
	for _, h := range res.GetHeaders("Contact") {
		ct, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		b := Binding{Contact: ct.Address.String()}
		if v, ok := ct.Params.Get("expires"); ok {
			if n, err := strconv.ParseUint(v, 10, 32); err == nil {
				b.Expires = time.Duration(n) * time.Second
			}
		}
		reg.Bindings = append(reg.Bindings, b)
	}
	return reg, nil
}

func (a *Agent) regState(registrar, user string) *regState {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := registrar + "\x00" + user
	s := a.regs[key]
	if s == nil {
		s = &regState{callID: sip.GenerateTagN(24) + "@" + a.addr.Addr().String()}
		a.regs[key] = s
	}
	return s
}

func (a *Agent) nextCSeq(s *regState) uint32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	s.cseq++
	return s.cseq
}

// sendRegister sends one REGISTER, with an Authorization (or
// Proxy-Authorization) header when authName is set.
func (a *Agent) sendRegister(ctx context.Context, u sip.Uri, transport, user string, s *regState, expires time.Duration,
	cfg registerConfig, authName, authValue string) (*sip.Response, error) {
	req := sip.NewRequest(sip.REGISTER, u)
	host, _, err := net.SplitHostPort(u.HostPort())
	if err != nil {
		host = u.Host
	}
	aor := sip.Uri{Scheme: "sip", User: user, Host: host}
	from := &sip.FromHeader{DisplayName: a.cfg.display, Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: aor, Params: sip.NewParams()}
	callID := sip.CallIDHeader(s.callID)
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: a.nextCSeq(s), MethodName: sip.REGISTER})
	req.AppendHeader(&maxfwd)
	if !cfg.query {
		ct := a.contact(transport)
		ct.Address.User = user
		req.AppendHeader(ct)
		req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	}
	req.AppendHeader(sip.NewHeader("User-Agent", a.cfg.userAgent))
	if authName != "" {
		req.AppendHeader(sip.NewHeader(authName, authValue))
	}
	req.SetBody(nil)
	a.route(req, transport)
	tx, err := a.cli.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: REGISTER: %w", err)
	}
	res, err := send(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: REGISTER: %w", err)
	}
	return res, nil
}

func isChallenge(res *sip.Response) bool {
	return res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired
}

func staleChallenge(res *sip.Response) bool {
	for _, h := range append(res.GetHeaders("WWW-Authenticate"), res.GetHeaders("Proxy-Authenticate")...) {
		if ch, err := digest.ParseChallenge(h.Value()); err == nil && ch.Stale {
			return true
		}
	}
	return false
}

// credentials answers the challenge of res for alg ("" for the first one
// offered) and returns the header to send.
func (a *Agent) credentials(res *sip.Response, u sip.Uri, user, password, alg string) (string, string, error) {
	challengeName, answerName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == sip.StatusProxyAuthRequired {
		challengeName, answerName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	var offered []string
	for _, h := range res.GetHeaders(challengeName) {
		ch, err := digest.ParseChallenge(h.Value())
		if err != nil || !digest.CanDigest(ch) {
			continue
		}
		got := strings.ToUpper(ch.Algorithm)
		if got == "" {
			got = "MD5" // RFC 2617 §3.2.1: absent means MD5
		}
		offered = append(offered, got)
		if alg != "" && got != alg {
			continue
		}
		cred, err := digest.Digest(ch, digest.Options{Method: string(sip.REGISTER), URI: u.String(),
			Username: user, Password: password})
		if err != nil {
			return "", "", fmt.Errorf("sipcaller: digest: %w", err)
		}
		return answerName, cred.String(), nil
	}
	return "", "", fmt.Errorf("sipcaller: the registrar offers no usable %s challenge (offered %v)", alg, offered)
}
