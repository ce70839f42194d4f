package loadgen

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"confab/bench/sipcaller"
)

// Dialer places the generator's calls. The SIP dialer is the one in use;
// tests give a fake.
type Dialer interface {
	// Dial calls target with an SDP offer and returns the call once it is
	// answered.
	Dial(ctx context.Context, target string, offer []byte) (Call, error)
	Close() error
}

// Call is one established call.
type Call interface {
	// Answer is the far end's SDP.
	Answer() []byte
	// Hangup sends BYE.
	Hangup(ctx context.Context) error
	// Ended is closed when the call has ended, by either side.
	Ended() <-chan struct{}
}

// SIPDialer places every call from one SIP user agent (github.com/emiago/
// sipgo through package sipcaller) on one UDP socket, answering digest
// challenges with the scenario's credentials.
type SIPDialer struct {
	agent *sipcaller.Agent
	opts  []sipcaller.DialOption
}

// NewSIPDialer starts a user agent listening on listen (host:port, port 0
// for any). With credentials its From user is the credentials' user, as
// bridges that match callers to accounts by From expect; otherwise it is
// "confabload".
func NewSIPDialer(listen, user, password string, log *slog.Logger) (*SIPDialer, error) {
	from := "confabload"
	if user != "" {
		from = user
	}
	a, err := sipcaller.New(sipcaller.WithListenAddr(listen), sipcaller.WithUser(from, ""),
		sipcaller.WithUserAgent("confabload"), sipcaller.WithLogger(log))
	if err != nil {
		return nil, err
	}
	d := &SIPDialer{agent: a}
	if user != "" {
		d.opts = append(d.opts, sipcaller.WithCredentials(user, password))
	}
	return d, nil
}

// Dial places one call.
func (d *SIPDialer) Dial(ctx context.Context, target string, offer []byte) (Call, error) {
	c, err := d.agent.Dial(ctx, target, offer, d.opts...)
	if err != nil {
		return nil, err
	}
	return sipCall{c}, nil
}

// Close stops the user agent.
func (d *SIPDialer) Close() error { return d.agent.Close() }

type sipCall struct{ c *sipcaller.Call }

func (s sipCall) Answer() []byte         { return s.c.Answer() }
func (s sipCall) Ended() <-chan struct{} { return s.c.Ended() }
func (s sipCall) Hangup(ctx context.Context) error {
	err := s.c.Bye(ctx)
	if errors.Is(err, sipcaller.ErrCallEnded) {
		return nil
	}
	return err
}

// failureKind names why a call failed, for the report: the SIP status, or
// the kind of error.
func failureKind(err error) string {
	if code := sipcaller.StatusCode(err); code != 0 {
		return "SIP " + strconv.Itoa(code)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrAnswer):
		return "bad answer"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}
