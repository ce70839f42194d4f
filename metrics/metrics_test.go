package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"confab/focus/sipfront"
	"confab/hal"
	"confab/mixer"
)

func sources() Sources {
	return Sources{
		Frame: 20 * time.Millisecond,
		Mixer: func() mixer.Stats {
			return mixer.Stats{Frames: 500, LateFrames: 3, SkippedFrames: 1, MixTime: 2 * time.Second, UnknownFlowPackets: 7,
				Path: hal.Counters{RxPackets: 1000, TxPackets: 990, RxDropped: 4}, PathName: "socket",
				Offload: mixer.OffloadStats{Codec: "device", Mix: "go", FramesDevice: 400, FramesGo: 100, Faults: 2, Fallbacks: 1,
					Recoveries: 1, ConferencesOnDevice: 1, ChannelsOnDevice: 6}}
		},
		SIP: func() sipfront.Stats {
			return sipfront.Stats{Calls: 2, Answered: 5, Rejected: 1, Registrations: 9, Challenges: 6}
		},
		SIPResponses: func() map[sipfront.ResponseKey]uint64 {
			return map[sipfront.ResponseKey]uint64{{Method: "INVITE", Class: "2xx"}: 5, {Method: "INVITE", Class: "4xx"}: 1,
				{Method: "REGISTER", Class: "2xx"}: 9, {Method: "REGISTER", Class: "4xx"}: 6}
		},
		Rosters: func() Rosters {
			return Rosters{Conferences: 1, Participants: 3, Codecs: map[string]int{"G722": 2, "PCMU": 1}, PacketsLost: 12}
		},
	}
}

func TestTheRegistryExportsTheComponentsCounters(t *testing.T) {
	r := New(sources())
	for _, tc := range []struct {
		name, metrics, want string
	}{
		{"active conferences and callers", "confab_conferences_active confab_participants_active", `
# HELP confab_conferences_active Conferences with callers in them.
# TYPE confab_conferences_active gauge
confab_conferences_active 1
# HELP confab_participants_active Callers connected to conferences.
# TYPE confab_participants_active gauge
confab_participants_active 3
`},
		{"codec use", "confab_participants_codec", `
# HELP confab_participants_codec Callers connected, by the codec they use.
# TYPE confab_participants_codec gauge
confab_participants_codec{codec="G722"} 2
confab_participants_codec{codec="PCMU"} 1
`},
		{"SIP requests by method and class", "confab_sip_requests_total", `
# HELP confab_sip_requests_total SIP requests answered, by method and status class (2xx ... 6xx).
# TYPE confab_sip_requests_total counter
confab_sip_requests_total{class="2xx",method="INVITE"} 5
confab_sip_requests_total{class="2xx",method="REGISTER"} 9
confab_sip_requests_total{class="4xx",method="INVITE"} 1
confab_sip_requests_total{class="4xx",method="REGISTER"} 6
`},
		{"RTP packets in and out", "confab_rtp_packets_total", `
# HELP confab_rtp_packets_total RTP and RTCP packets through the media path.
# TYPE confab_rtp_packets_total counter
confab_rtp_packets_total{direction="in"} 1000
confab_rtp_packets_total{direction="out"} 990
`},
		{"RTP lost and dropped", "confab_rtp_lost_packets confab_rtp_dropped_packets_total", `
# HELP confab_rtp_dropped_packets_total Packets dropped: by the media path (no flow, bad source, full queue), for unknown flows, or not sent.
# TYPE confab_rtp_dropped_packets_total counter
confab_rtp_dropped_packets_total{where="path"} 4
confab_rtp_dropped_packets_total{where="send"} 0
confab_rtp_dropped_packets_total{where="unknown-flow"} 7
# HELP confab_rtp_lost_packets RTP packets the connected callers' streams lost on the way to the box.
# TYPE confab_rtp_lost_packets gauge
confab_rtp_lost_packets 12
`},
		{"offload frames, faults, fallbacks and recoveries",
			"confab_mixer_offload_frames_total confab_mixer_offload_faults_total confab_mixer_offload_fallbacks_total " +
				"confab_mixer_offload_recoveries_total confab_mixer_offload_conferences confab_mixer_offload_channels confab_mixer_offload_info", `
# HELP confab_mixer_offload_frames_total Conference frames mixed, by where the mix ran: on the offload device or in Go.
# TYPE confab_mixer_offload_frames_total counter
confab_mixer_offload_frames_total{where="device"} 400
confab_mixer_offload_frames_total{where="go"} 100
# HELP confab_mixer_offload_faults_total Offload device faults (timeout, CRC error, reset) the mixer met.
# TYPE confab_mixer_offload_faults_total counter
confab_mixer_offload_faults_total 2
# HELP confab_mixer_offload_fallbacks_total Conferences moved from the offload device to the pure-Go engines after a fault.
# TYPE confab_mixer_offload_fallbacks_total counter
confab_mixer_offload_fallbacks_total 1
# HELP confab_mixer_offload_recoveries_total Conferences moved back to the offload device once it was healthy again.
# TYPE confab_mixer_offload_recoveries_total counter
confab_mixer_offload_recoveries_total 1
# HELP confab_mixer_offload_conferences Conferences running on the offload device.
# TYPE confab_mixer_offload_conferences gauge
confab_mixer_offload_conferences 1
# HELP confab_mixer_offload_channels Codec channels open on the offload device.
# TYPE confab_mixer_offload_channels gauge
confab_mixer_offload_channels 6
# HELP confab_mixer_offload_info Who does codec and mix work: device or go (1 for the one in use).
# TYPE confab_mixer_offload_info gauge
confab_mixer_offload_info{engine="device",work="codec"} 1
confab_mixer_offload_info{engine="go",work="mix"} 1
`},
		{"late ticks", "confab_mixer_late_ticks_total", `
# HELP confab_mixer_late_ticks_total Frame worker ticks that ran more than one frame late and caught up.
# TYPE confab_mixer_late_ticks_total counter
confab_mixer_late_ticks_total 3
`},
	} {
		t.Run(tc.name+" are exported", func(t *testing.T) {
			if err := testutil.GatherAndCompare(r.Gatherer(), strings.NewReader(tc.want), strings.Fields(tc.metrics)...); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("the handler serves the exposition format with the runtime's metrics", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{"confab_mixer_tick_duration_seconds_bucket", "go_goroutines", `confab_media_path_info{path="socket"} 1`} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
	})
}

func TestEveryTickLandsInTheHistogram(t *testing.T) {
	r := New(Sources{Mixer: func() mixer.Stats { return mixer.Stats{} }, Frame: 20 * time.Millisecond})
	for _, d := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 30 * time.Millisecond} {
		r.ObserveTick(d)
	}
	mfs, err := r.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "confab_mixer_tick_duration_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != 3 {
			t.Fatalf("%d ticks counted, want 3", h.GetSampleCount())
		}
		// 30 ms is beyond the 20 ms frame: only the +Inf bucket and the
		// 1.5x/2x buckets above it hold all three.
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 0.02 && b.GetCumulativeCount() != 2 {
				t.Fatalf("%d ticks within the frame, want 2", b.GetCumulativeCount())
			}
		}
		return
	}
	t.Fatal("no tick histogram")
}
