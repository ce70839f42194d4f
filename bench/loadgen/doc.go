// Package loadgen is a SIP and RTP load generator for audio conference
// bridges: from one process it dials thousands of callers into a bridge's
// conferences, sends each caller's audio and measures what every caller
// receives, so that Confab, or any SIP bridge, can be measured by what its
// users notice: whether calls get in, whether the audio they hear keeps
// coming and keeps time, whether it is the right mix, and what it costs
// the bridge's machine.
//
// # Calls
//
// Every call goes out from one SIP user agent on one UDP socket (package
// sipcaller, on github.com/emiago/sipgo), paced at the scenario's set-up
// rate, with digest credentials for challenged INVITEs and the conference
// PIN entered as RFC 4733 telephone-events once the call is answered. The
// set-up delay is RFC 6076's session request delay, INVITE to final 2xx.
// Churn hangs up callers and calls again at a steady rate while the others
// talk.
//
// # Media
//
// No goroutine per caller: one goroutine sends every caller's RTP, one
// frame time after another by the monotonic clock, in one batch per frame,
// and one goroutine receives all of it, over one batched packet path
// (hal/sockpath: one epoll set, recvmmsg and sendmmsg). Each caller's audio
// is a loop of payloads encoded once before the run (a talker's tone
// bursts, or speech from a WAV file, or silence, in PCMU, PCMA, G.722 or
// Opus), so sending costs a copy per packet whatever the codec. Loss (with
// bursts, Gilbert model) and jitter are added to what the callers send,
// as an access network would.
//
// Talkers send tone bursts, one tone per talker and distinct within a
// conference, and the talkers of a conference start their bursts in the
// same frame. For every receiver the generator counts, from the RTP headers
// alone, loss, lateness, RFC 3550 jitter and the gaps between arrivals. A
// sample of receivers is decoded as well: a bank of Goertzel filters says
// which talkers each hears (it must hear the others of its conference, up
// to the bridge's talker cap, and not itself), and an onset detector finds
// when each burst arrives, which against the burst's send time is the
// bridge's added latency.
//
// The bridge's own CPU and memory come from /proc/PID (package procstat),
// so any bridge process can be measured; the generator reports its own CPU
// and the rest of the machine's beside it, since on one box they share the
// cores.
package loadgen
