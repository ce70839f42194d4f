package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// Test media made at test time, so that no binary audio is committed: a
// sine tone as PCM, as a WAV file (for baresip's aufile) and as a pcap of
// PCMU RTP (for SIPp's play_pcap_audio).

// sine returns seconds of a tone of hz at rate, at 0.3 of full scale like
// the simulated phones.
func sine(rate int, hz, seconds float64) []int16 {
	pcm := make([]int16, int(seconds*float64(rate)))
	for i := range pcm {
		pcm[i] = int16(0.3 * 32767 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return pcm
}

// writeWAV writes 16-bit mono PCM as a RIFF WAVE file.
func writeWAV(t *testing.T, path string, rate int, pcm []int16) {
	t.Helper()
	var b bytes.Buffer
	data := uint32(2 * len(pcm))
	b.WriteString("RIFF")
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	le(36 + data)
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1)) // PCM
	le(uint16(1)) // mono
	le(uint32(rate))
	le(uint32(2 * rate)) // byte rate
	le(uint16(2))        // block align
	le(uint16(16))       // bits per sample
	b.WriteString("data")
	le(data)
	le(pcm)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ulaw encodes one sample by G.711 µ-law (ITU-T G.711 Table 2): bias,
// segment, four mantissa bits, all inverted.
func ulaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x, sign := int(s), byte(0)
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	seg := 7
	for mask := 0x4000; x&mask == 0 && seg > 0; mask >>= 1 {
		seg--
	}
	return ^(sign | byte(seg<<4) | byte((x>>(seg+3))&0x0f))
}

// writeRTPPcap writes pcm (8 kHz) as PCMU RTP in 20 ms packets, in a pcap
// file of Ethernet/IPv4/UDP frames with their capture times 20 ms apart.
// SIPp replays it with those gaps, to the port the answer names.
func writeRTPPcap(t *testing.T, path string, pcm []int16) {
	t.Helper()
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	// Global header: magic, version 2.4, zone, sigfigs, snaplen, LINKTYPE_ETHERNET.
	le(uint32(0xa1b2c3d4))
	le(uint16(2))
	le(uint16(4))
	le(int32(0))
	le(uint32(0))
	le(uint32(65535))
	le(uint32(1))
	const frame = 160
	for k := 0; (k+1)*frame <= len(pcm); k++ {
		rtp := make([]byte, 12+frame)
		rtp[0] = 0x80 // version 2
		if k == 0 {
			rtp[1] = 0x80 // marker on the first packet, payload type 0 (PCMU)
		}
		binary.BigEndian.PutUint16(rtp[2:], uint16(k))
		binary.BigEndian.PutUint32(rtp[4:], uint32(k*frame))
		binary.BigEndian.PutUint32(rtp[8:], 0x5eed5eed)
		for i := 0; i < frame; i++ {
			rtp[12+i] = ulaw(pcm[k*frame+i])
		}
		udp := make([]byte, 8, 8+len(rtp))
		binary.BigEndian.PutUint16(udp[0:], 16000)
		binary.BigEndian.PutUint16(udp[2:], 17000)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtp)))
		udp = append(udp, rtp...) // checksum 0: none (RFC 768)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		binary.BigEndian.PutUint16(ip[4:], uint16(k))
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
		pkt := append(append(eth, ip...), udp...)
		at := k * 20000 // microseconds
		le(uint32(at / 1e6))
		le(uint32(at % 1e6))
		le(uint32(len(pkt)))
		le(uint32(len(pkt)))
		b.Write(pkt)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ipChecksum is the IPv4 header checksum (RFC 791): the ones' complement
// of the ones' complement sum of the header's 16-bit words.
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestTheTestMedia(t *testing.T) {
	t.Run("µ-law encodes silence, the extremes and the sign as G.711 does", func(t *testing.T) {
		for _, tc := range []struct {
			in   int16
			want byte
		}{{0, 0xff}, {-1, 0x7f}, {32767, 0x80}, {-32768, 0x00}, {1000, 0xce}} {
			if got := ulaw(tc.in); got != tc.want {
				t.Errorf("ulaw(%d) = %#x, want %#x", tc.in, got, tc.want)
			}
		}
	})
	t.Run("an IPv4 header with its checksum sums to zero", func(t *testing.T) {
		h := []byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}
		binary.BigEndian.PutUint16(h[10:], ipChecksum(h))
		if got := ipChecksum(h); got != 0 || binary.BigEndian.Uint16(h[10:]) != 0xb861 {
			t.Fatalf("checksum %#x, sum with it %#x", binary.BigEndian.Uint16(h[10:]), got)
		}
	})
}
