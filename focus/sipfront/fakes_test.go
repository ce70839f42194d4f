package sipfront

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"confab/focus"
	"confab/focus/sipfront/digest"
)

// answerSDP is the echo fake's answer: PCMU, like the MCU would choose.
const answerSDP = "v=0\r\no=confab 1 1 IN IP4 127.0.0.1\r\ns=confab\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"

// offerSDP is what test callers offer.
func offerSDP(direction string) []byte {
	return []byte("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=" + direction + "\r\n")
}

// echoJoiner is a fake Focus Factory: every Join succeeds with answerSDP
// unless err is set or block holds it.
type echoJoiner struct {
	mu      sync.Mutex
	err     error
	block   bool // Join waits for its context to end
	early   bool // members say their callers hear a prompt first (focus.EarlyMedia)
	joins   []joined
	members []*fakeMember
	joinedC chan *fakeMember // each successful Join, in order
}

type joined struct {
	target string
	call   focus.Call
	leg    focus.Leg
}

func newEchoJoiner() *echoJoiner { return &echoJoiner{joinedC: make(chan *fakeMember, 1000)} }

func (j *echoJoiner) Join(ctx context.Context, target string, call focus.Call, leg focus.Leg) (focus.Member, []byte, error) {
	j.mu.Lock()
	j.joins = append(j.joins, joined{target, call, leg})
	err, block := j.err, j.block
	j.mu.Unlock()
	if block {
		<-ctx.Done()
		// Like a Focus that admitted the member just as the call went away.
		m := newFakeMember(target, call, leg)
		j.mu.Lock()
		j.members = append(j.members, m)
		j.mu.Unlock()
		return m, []byte(answerSDP), nil
	}
	if err != nil {
		return nil, nil, err
	}
	m := newFakeMember(target, call, leg)
	j.mu.Lock()
	m.early = j.early
	j.members = append(j.members, m)
	j.mu.Unlock()
	select {
	case j.joinedC <- m:
	default: // nobody is watching (load tests)
	}
	return m, []byte(answerSDP), nil
}

func (j *echoJoiner) setErr(err error) { j.mu.Lock(); j.err = err; j.mu.Unlock() }
func (j *echoJoiner) setBlock(b bool)  { j.mu.Lock(); j.block = b; j.mu.Unlock() }

func (j *echoJoiner) lastJoin(t *testing.T) joined {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.joins) == 0 {
		t.Fatal("Join was not called")
	}
	return j.joins[len(j.joins)-1]
}

func (j *echoJoiner) allMembers() []*fakeMember {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*fakeMember(nil), j.members...)
}

// next returns the member of the next successful Join.
func (j *echoJoiner) next(t *testing.T) *fakeMember {
	t.Helper()
	select {
	case m := <-j.joinedC:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no Join")
		return nil
	}
}

// fakeMember records what the Front tells the Focus about one call.
type fakeMember struct {
	target string
	call   focus.Call
	leg    focus.Leg

	mu        sync.Mutex
	digits    []byte
	offers    [][]byte
	reoffer   func(offer []byte) ([]byte, error)
	leaves    []string
	leftC     chan string
	reofferIn chan struct{} // signalled when Reoffer starts
	early     bool
}

var _ focus.EarlyMedia = (*fakeMember)(nil)

func (m *fakeMember) EarlyMedia() bool { return m.early }

func newFakeMember(target string, call focus.Call, leg focus.Leg) *fakeMember {
	return &fakeMember{target: target, call: call, leg: leg, leftC: make(chan string, 4), reofferIn: make(chan struct{}, 16)}
}

func (m *fakeMember) DTMF(d byte) { m.mu.Lock(); m.digits = append(m.digits, d); m.mu.Unlock() }

// Reoffer answers with the caller's direction mirrored (RFC 3264 §6.1).
func (m *fakeMember) Reoffer(offer []byte) ([]byte, error) {
	m.mu.Lock()
	m.offers = append(m.offers, offer)
	fn := m.reoffer
	m.mu.Unlock()
	m.reofferIn <- struct{}{}
	if fn != nil {
		return fn(offer)
	}
	dir := "sendrecv"
	switch {
	case strings.Contains(string(offer), "a=sendonly"):
		dir = "recvonly"
	case strings.Contains(string(offer), "a=inactive"):
		dir = "inactive"
	}
	return []byte(strings.Replace(answerSDP, "a=sendrecv", "a="+dir, 1)), nil
}

func (m *fakeMember) Leave(reason string) {
	m.mu.Lock()
	m.leaves = append(m.leaves, reason)
	m.mu.Unlock()
	m.leftC <- reason
}

func (m *fakeMember) setReoffer(fn func([]byte) ([]byte, error)) {
	m.mu.Lock()
	m.reoffer = fn
	m.mu.Unlock()
}

// waitLeave returns the reason of the first Leave.
func (m *fakeMember) waitLeave(t *testing.T) string {
	t.Helper()
	select {
	case r := <-m.leftC:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Leave was not called")
		return ""
	}
}

func (m *fakeMember) snapshot() (digits []byte, offers [][]byte, leaves []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.digits...), append([][]byte(nil), m.offers...), append([]string(nil), m.leaves...)
}

// users is a fake Authenticator over plain passwords.
type users map[string]string

func (u users) HA1(_ context.Context, username, realm string, alg digest.Algorithm) (string, bool, error) {
	pw, ok := u[username]
	if !ok {
		return "", false, nil
	}
	return digest.HA1(alg, username, realm, pw), true, nil
}

// memRegistrar is a fake Registrar.
type memRegistrar struct {
	mu       sync.Mutex
	bindings map[string]Binding // aor + "\x00" + contact
	now      func() time.Time
}

func newMemRegistrar() *memRegistrar {
	return &memRegistrar{bindings: make(map[string]Binding), now: time.Now}
}

func (r *memRegistrar) Upsert(_ context.Context, b Binding) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bindings[b.AOR+"\x00"+b.Contact] = b
	return nil
}

func (r *memRegistrar) Delete(_ context.Context, aor, contact string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.bindings, aor+"\x00"+contact)
	return nil
}

func (r *memRegistrar) Lookup(_ context.Context, aor string) ([]Binding, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Binding
	for _, b := range r.bindings {
		if b.AOR == aor && b.Expires.After(r.now()) {
			out = append(out, b)
		}
	}
	return out, nil
}

// trunks is a fake TrunkDirectory.
type trunks struct {
	peers map[netip.Addr]string
	users map[string]string // inbound username -> trunk
	dids  map[string]string // trunk + "/" + did -> target
}

func (t trunks) TrunkForAddress(a netip.Addr) (string, bool) { n, ok := t.peers[a]; return n, ok }
func (t trunks) TrunkForUser(u string) (string, bool)        { n, ok := t.users[u]; return n, ok }
func (t trunks) CredentialDID(did string) bool {
	for key := range t.dids {
		trunk, d, _ := strings.Cut(key, "/")
		for _, name := range t.users {
			if name == trunk && d == did {
				return true
			}
		}
	}
	return false
}
func (t trunks) TargetForDID(trunk, did string) (string, bool) {
	target, ok := t.dids[trunk+"/"+did]
	return target, ok
}

var errBoom = errors.New("boom")
