//go:build linux

package rtpfilter

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
)

// Errors a caller can tell apart.
var (
	// ErrConfig is returned by Load for a configuration the program cannot
	// run with.
	ErrConfig = errors.New("rtpfilter: invalid configuration")
	// ErrPort is returned for a port outside the media range, or an odd
	// one where an RTP port is expected.
	ErrPort = errors.New("rtpfilter: port is not an RTP port of the media range")
	// ErrFlowClosed is returned for a flow that is not open.
	ErrFlowClosed = errors.New("rtpfilter: flow is not open")
	// ErrBypass is returned by SetBypass for a bypass the program cannot
	// forward: mixed address families, or addresses of the wrong family.
	ErrBypass = errors.New("rtpfilter: invalid bypass")
	// ErrQueue is returned by SetSocket for a queue beyond the socket map.
	ErrQueue = errors.New("rtpfilter: RX queue out of range")
)

// maxSlots is the program's MAX_SLOTS: one slot per even port.
const maxSlots = 32768

// maxQueues is the size of the program's AF_XDP socket map.
const maxQueues = 256

// Defaults for the SIP guard: a phone sends a handful of requests per call;
// 100 per second with bursts of 200 is far above that and far below a flood.
// A trunk that legitimately sends more is trusted instead.
const (
	DefaultSIPRate  = 100
	DefaultSIPBurst = 200
)

// Config is what the program is loaded with. It cannot change afterwards:
// the values are constants to the verifier, which prunes what they disable.
type Config struct {
	// MediaLow..MediaHigh (inclusive) is the media port range; MediaLow is
	// even (RTP), each RTP port's RTCP port is the next one (RFC 3550 §11).
	// Both zero turns media filtering off.
	MediaLow, MediaHigh uint16
	// SIPPort is guarded by the per-source token bucket; 0 turns it off.
	SIPPort uint16
	// SIPRate is the packets per second one source may send to the SIP
	// port, SIPBurst how many it may send at once. Zero means the default.
	SIPRate, SIPBurst int
	// Redirect sends valid packets of known flows to the AF_XDP socket of
	// their RX queue (SetSocket) instead of the kernel's UDP socket. A queue
	// without a socket still passes them to the kernel.
	Redirect bool
}

// Validate reports a configuration Load would refuse.
func (c Config) Validate() error {
	switch {
	case c.MediaLow == 0 && c.MediaHigh == 0:
	case c.MediaLow%2 != 0:
		return fmt.Errorf("%w: media low port %d is odd; RTP needs an even port (RFC 3550 §11)", ErrConfig, c.MediaLow)
	case c.MediaHigh <= c.MediaLow:
		return fmt.Errorf("%w: media ports %d-%d hold no RTP/RTCP pair", ErrConfig, c.MediaLow, c.MediaHigh)
	}
	if c.SIPPort != 0 && c.MediaLow != 0 && c.SIPPort >= c.MediaLow && c.SIPPort <= c.MediaHigh {
		return fmt.Errorf("%w: SIP port %d lies in the media range %d-%d", ErrConfig, c.SIPPort, c.MediaLow, c.MediaHigh)
	}
	if c.SIPRate < 0 || c.SIPBurst < 0 {
		return fmt.Errorf("%w: SIP rate %d and burst %d must not be negative", ErrConfig, c.SIPRate, c.SIPBurst)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.SIPRate == 0 {
		c.SIPRate = DefaultSIPRate
	}
	if c.SIPBurst == 0 {
		c.SIPBurst = DefaultSIPBurst
	}
}

// Filter is the loaded program and its maps. Attach Program to an
// interface to put it to work; Close releases everything once it is
// detached. A Filter is safe for concurrent use.
type Filter struct {
	cfg  Config
	objs rtpfilterObjects

	// mu serializes rule writes and guards rules, the user-space copy of
	// flow_rules that every write starts from (see writeRule).
	mu    sync.Mutex
	rules map[uint32]rtpfilterFlowRule
}

// Load checks cfg, sets it into the program and loads program and maps into
// the kernel. It needs CAP_BPF and CAP_NET_ADMIN.
func Load(cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	spec, err := loadRtpfilter()
	if err != nil {
		return nil, err
	}
	interval := uint64(time.Second) / uint64(cfg.SIPRate)
	vars := []struct {
		name  string
		value any
	}{
		{rtpfilterVarMediaLow, cfg.MediaLow},
		{rtpfilterVarMediaHigh, cfg.MediaHigh},
		{rtpfilterVarSipPort, cfg.SIPPort},
		{rtpfilterVarRedirect, boolByte(cfg.Redirect)},
		{rtpfilterVarSipIntervalNs, interval},
		{rtpfilterVarSipToleranceNs, interval * uint64(cfg.SIPBurst-1)},
	}
	for _, v := range vars {
		vs, ok := spec.Variables[v.name]
		if !ok {
			return nil, fmt.Errorf("rtpfilter: object has no variable %s", v.name)
		}
		if err := vs.Set(v.value); err != nil {
			return nil, fmt.Errorf("rtpfilter: set %s: %w", v.name, err)
		}
	}
	f := &Filter{cfg: cfg, rules: make(map[uint32]rtpfilterFlowRule)}
	if err := spec.LoadAndAssign(&f.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("rtpfilter: verifier: %+v", ve)
		}
		return nil, fmt.Errorf("rtpfilter: load: %w", err)
	}
	return f, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Config returns the configuration the program was loaded with, defaults
// filled in.
func (f *Filter) Config() Config { return f.cfg }

// Program is the XDP program, to attach to the media interface.
func (f *Filter) Program() *ebpf.Program { return f.objs.ConfabRtpFilter }

// Close releases the program and its maps. An attachment that still holds
// the program keeps it running until it is detached.
func (f *Filter) Close() error { return f.objs.Close() }

// SetSocket puts the AF_XDP socket fd in charge of RX queue queue: valid
// packets of known flows that arrive there go to it (Config.Redirect).
func (f *Filter) SetSocket(queue, fd int) error {
	if queue < 0 || queue >= maxQueues {
		return fmt.Errorf("%w: %d (the map holds %d)", ErrQueue, queue, maxQueues)
	}
	if err := f.objs.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("rtpfilter: socket for queue %d: %w", queue, err)
	}
	return nil
}

// RemoveSocket takes queue's AF_XDP socket out; its packets go to the
// kernel again.
func (f *Filter) RemoveSocket(queue int) error {
	if queue < 0 || queue >= maxQueues {
		return fmt.Errorf("%w: %d (the map holds %d)", ErrQueue, queue, maxQueues)
	}
	if err := f.objs.Xsks.Delete(uint32(queue)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("rtpfilter: remove socket for queue %d: %w", queue, err)
	}
	return nil
}
