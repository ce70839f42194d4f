// Package focus is Confab's control plane, after the conferencing architecture
// of Office Communications Server 2007 R2:
//
//   - the Focus Factory (Factory) keeps conferences in the conferencing
//     database (focus/store) and finds or starts the Focus of a conference;
//   - a Focus, one per active conference, holds its state (roster, roles,
//     lock, waiting room), enforces security (PINs, admission, privileges),
//     relays every control command to the MCU after a privilege check, and
//     publishes state changes as Events;
//   - the Conferencing Server Factory (ServerFactory) hands a Focus the audio
//     MCU for its conference; the Focus reaches the mixer only through it;
//   - the conferencing attendant (attendant.go) answers a call that has not
//     said which conference it wants (AttendantTarget: a trunk DID routed
//     to none), asks for the number and moves the call, media and all, to
//     that conference's Focus (Mover).
//
// The SIP front (focus/sipfront), the HTTP API and, later, C3P are all
// clients of the same command path: client -> Focus -> MCU.
package focus
