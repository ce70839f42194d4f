package mixer

import (
	"confab/hal"
	"confab/mixer/sdpneg"
)

// limitPayloadTypes tells a packet path that filters below the MCU
// (hal.PayloadTypeFilter: the XDP driver) which RTP payload types a
// participant negotiated, so that anything else is dropped before it costs
// a wakeup. The session would drop it anyway (rtpsession, unknown payload
// type); this only moves the work.
func (c *Conference) limitPayloadTypes(p *participant, ch sdpneg.Choice) {
	f, ok := c.e.path.(hal.PayloadTypeFilter)
	if !ok {
		return
	}
	pts := []uint8{ch.Codec.PayloadType}
	if ch.DTMF != nil {
		pts = append(pts, ch.DTMF.PayloadType)
	}
	_ = f.SetPayloadTypes(p.flow.ID, pts)
}
