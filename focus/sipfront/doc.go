// Package sipfront is the SIP face of the Confab appliance: a SIP user agent
// server on UDP and TCP (RFC 3261), built on github.com/emiago/sipgo, that
// turns incoming calls into joins on the Focus through focus.Joiner and keeps
// each call's dialog until it ends.
//
// # Dialled target
//
// The Request-URI of an out-of-dialog INVITE names what the caller wants to
// join, and the Front passes it to Joiner.Join as the target:
//
//   - a Focus URI, sip:anyone@host;gruu;opaque=app:conf:focus:id:ID
//     (the OCS/Lync conference URI form), gives the target "focus:ID";
//   - otherwise the user part of the Request-URI, percent-decoded, is the
//     target: sip:7001@box gives "7001";
//   - a call from a trunk (TrunkDirectory: by its address, or TrunkUsers:
//     by the digest credentials an INVITE to one of its DIDs is challenged
//     for) has its user part, the DID, mapped by TargetForDID, which may
//     give focus.AttendantTarget (ask the caller for the conference
//     number); an unmapped DID is passed on as dialled.
//
// A Request-URI without a user part or with characters outside
// [0-9A-Za-z*#+._-] is answered 404.
//
// # Call flow
//
// An INVITE gets 100 Trying at once; Join runs with the caller's SDP offer
// and, on success, the answer goes back in 200 OK whose Contact carries the
// isfocus feature parameter (RFC 4579 §3.3). When the Member says its
// caller hears a prompt first (focus.EarlyMedia: PIN, attendant, lobby,
// waiting for the leader), a 183 Session Progress with the same SDP goes
// just before the 200, so that the prompt's media, already flowing, is
// let through (RFC 3960); it is unreliable unless the caller requires
// 100rel, which gets it reliably and the 200 after its PRACK (RFC 3262,
// prack.go). The 200 is retransmitted until the ACK arrives (RFC 3261
// §13.3.1.4); without an ACK after 64*T1 the call is ended with BYE. Join errors map to final responses: ErrUnknownConference
// 404, ErrLocked and ErrForbidden 403, ErrFull 486, ErrUnavailable and
// ErrEnded 480, mixer.ErrNoCommonCodec and mixer.ErrBadSDP 488,
// mixer.ErrCapacity 503, anything else 500. An INVITE without SDP (late
// offer) is answered 488: the MCU only answers offers.
//
// In the dialog the Front handles BYE, CANCEL (487 to the INVITE), re-INVITE
// and UPDATE (RFC 3311) through Member.Reoffer, INFO carrying DTMF
// (application/dtmf-relay, application/dtmf) through Member.DTMF, OPTIONS,
// and session timers (RFC 4028). Overlapping offers follow RFC 3261 §14.2 and
// RFC 3311 §5.2: a re-INVITE or UPDATE offer that arrives while the caller's
// previous offer is still being answered gets 500 with Retry-After; one that
// crosses the Front's own session refresh, or arrives before the ACK of the
// previous INVITE, gets 491 Request Pending.
//
// Member.Leave is called exactly once for every Member that Join returned,
// whatever ended the call (BYE, CANCEL, session expiry, missing ACK,
// shutdown, or the Focus's own Leg.Hangup), so the Focus can release a call
// in one place. Member methods may be called from different goroutines.
//
// In-dialog requests the Front sends (BYE, session refreshes) go to the
// address the INVITE came from, or along its Record-Route set, rather than
// to the Contact: phones behind NAT are then reachable (the symmetric
// routing of RFC 3581), and TCP calls reuse their connection (RFC 5923 §3).
//
// # Registration and authentication
//
// REGISTER (RFC 3261 §10.3) needs an Authenticator and a Registrar: the
// Front challenges with Digest SHA-256 and MD5 (RFC 7616, RFC 8760, see
// package digest), stores bindings through the Registrar and answers with
// the current Contacts. A source address that fails authentication
// repeatedly is locked out for a while: it gets 403 without a challenge.
// INVITEs are not challenged by default (public dial-in; trunks and the
// smoke test call without credentials); WithRequireAuth(true) challenges
// every INVITE that is not from a trunk, and with an Authenticator and a
// Registrar the Front also challenges INVITEs whose From user is registered
// from the same address, so that a registered phone's calls carry its user.
//
// # Conference control
//
// With WithConferencing (conferencing.go) the Front also carries conference
// control, each request going to the Focus with its sender's own
// privileges:
//
//   - SERVICE to the Focus Factory URI, sip:user@domain;gruu;opaque=
//     app:conf:focusfactory, with a C3P body (application/cccp+xml,
//     MS-CONFPRO): the sender must authenticate (401 first); the answer is
//     a 200 whose C3P response says success or failure;
//   - INVITE to a Focus URI with a C3P addUser body opens a control dialog
//     without media (MS-CONFBAS); C3P in INFO in that dialog, or in a
//     caller's own call, controls the conference;
//   - SUBSCRIBE with Event: conference to a Focus URI or a number (RFC
//     4575, RFC 6665): 200, a NOTIFY with the full state, then partial
//     NOTIFYs numbered one up, coalesced within WithNotifyInterval;
//     NOTIFYs too large for UDP go over TCP (RFC 3261 §18.1.1);
//   - INVITE to the Focus Factory URI creates an ad-hoc conference whose
//     Focus URI is the 2xx Contact (RFC 4579 §5.2); REFER to a Focus calls
//     the Refer-To participant in, or with method=BYE removes it (RFC 4579
//     §5.5, §5.6), reporting in refer NOTIFYs (RFC 3515).
//
// # Robustness
//
// Every datagram is parsed before sipgo sees it; what does not parse is
// counted and dropped, or answered 400 when the request can be answered at
// all (RFC 3261 §18.3). Requests that parse but break RFC 3261 (missing or
// repeated header fields, a CSeq method that does not match, an unknown SIP
// version or URI scheme, an unsupported Require) are answered 400, 505, 416
// or 420 (RFC 4475 §3.1.2, §3.3). A handler that panics answers 500 and the
// Front keeps serving.
package sipfront
