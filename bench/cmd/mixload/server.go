package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime/pprof"
	"strings"

	"confab/hal/sockpath"
	"confab/mixer"
	"confab/mixer/sdpneg"
)

// runServer is the child: a mixer engine driven by lines on stdin.
//
//	ADD <conference> <base64 SDP offer>  ->  OK <our RTP port>
//	STATS                                ->  one JSON object
func runServer(in io.Reader, out io.Writer) error {
	if path := os.Getenv("MIXLOAD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	path, err := sockpath.New(netip.MustParseAddr("127.0.0.1"), 30000, 39998)
	if err != nil {
		return err
	}
	e, err := mixer.NewEngine(path, netip.MustParseAddr("127.0.0.1"), mixer.Config{MediaTimeout: -1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.Run(ctx) }()
	go func() {
		for range e.Events() {
		}
	}()
	confs := map[string]*mixer.Conference{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	w := bufio.NewWriter(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "ADD":
			c := confs[f[1]]
			if c == nil {
				if c, err = e.NewConference(f[1]); err != nil {
					return err
				}
				confs[f[1]] = c
			}
			offer, _ := base64.StdEncoding.DecodeString(f[2])
			_, answer, err := c.Add(offer, mixer.AddOptions{})
			if err != nil {
				fmt.Fprintf(w, "ERR %v\n", err)
				break
			}
			o, err := sdpneg.Parse(answer)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "OK %d\n", o.Remote.Port())
		case len(f) == 1 && f[0] == "STATS":
			s := e.Stats()
			b, _ := json.Marshal(map[string]uint64{"Frames": s.Frames, "LateFrames": s.LateFrames, "SkippedFrames": s.SkippedFrames,
				"RxPackets": s.Path.RxPackets, "TxPackets": s.Path.TxPackets, "RxDropped": s.Path.RxDropped, "TxErrors": s.TxErrors})
			fmt.Fprintf(w, "%s\n", b)
		case len(f) == 1 && f[0] == "QUIT":
			return nil
		default:
			fmt.Fprintf(w, "ERR unknown command\n")
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return sc.Err()
}
