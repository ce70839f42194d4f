package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/mixer/prompt"
)

// baresipConfig is a headless baresip (Debian package baresip, 1.0): no
// sound card — it talks from a WAV file (aufile), plays into a bridge
// device nobody reads (aubridge), and the sndfile filter writes what it
// decoded to <dir>/rec/dump-*-dec.wav. Only G.711 is loaded so both ends
// agree on 8 kHz audio; the menu module runs the -e command, the account
// module reads the accounts file.
const baresipConfig = `poll_method		epoll
sip_listen		127.0.0.1:%d
audio_player		aubridge,nowhere
audio_source		aufile,%s
audio_alert		aubridge,nowhere
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
snd_path		%s
`

func TestBaresipDialsIn(t *testing.T) {
	bin := needCommand(t, "baresip", "baresip")
	for _, m := range []string{"g711", "aufile", "aubridge", "sndfile", "account", "menu"} {
		if _, err := os.Stat("/usr/lib/baresip/modules/" + m + ".so"); err != nil {
			t.Skipf("baresip module %s is missing (Debian package baresip): %v", m, err)
		}
	}
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)

	dir := t.TempDir()
	rec := filepath.Join(dir, "rec")
	if err := os.Mkdir(rec, 0o755); err != nil {
		t.Fatal(err)
	}
	const talk = 8 * time.Second
	in := filepath.Join(dir, "talk.wav")
	writeWAV(t, in, 8000, sine(8000, toneC, talk.Seconds()+5))
	config := fmt.Sprintf(baresipConfig, freeUDPPort(t), in, rec)
	for name, body := range map[string]string{
		"config":   config,
		"accounts": `"Baresip" <sip:baresip@127.0.0.1>;regint=0` + "\n",
		"contacts": "",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// -t ends baresip after the talk, which hangs up with BYE.
	ctx, cancel := context.WithTimeout(context.Background(), talk+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-n", "127.0.0.1", "-t", strconv.Itoa(int(talk.Seconds())),
		"-e", "/dial sip:7001@"+d.sip)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("baresip output:\n%s", lastLines(strings.ReplaceAll(out.String(), "\r", "\n"), 40))
		}
	}()

	t.Run("baresip's call joins the conference", func(t *testing.T) {
		m := d.memberNamed(t, id, "Baresip")
		if m.Codec != "PCMU" && m.Codec != "PCMA" {
			t.Fatalf("baresip joined with %q, want G.711", m.Codec)
		}
	})
	t.Run("what baresip sends from its WAV is mixed to the other caller", func(t *testing.T) {
		alice.hears(t, toneC)
	})
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("baresip: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("baresip did not quit after -t")
	}
	t.Run("baresip's BYE takes it out of the conference", func(t *testing.T) {
		waitFor(t, "baresip to leave the roster", 5*time.Second, func() bool {
			r := d.roster(t, id)
			return len(r) == 1 && r[0].Name == "Alice"
		})
		alice.stillUp(t)
	})
	t.Run("baresip's received audio holds the other caller's tone and not its own", func(t *testing.T) {
		dumps, _ := filepath.Glob(filepath.Join(rec, "dump-*-dec.wav"))
		if len(dumps) != 1 {
			t.Fatalf("baresip wrote %d decoded dumps (%v), want 1", len(dumps), dumps)
		}
		b, err := os.ReadFile(dumps[0])
		if err != nil {
			t.Fatal(err)
		}
		rate, pcm, err := prompt.ParseWAV(b)
		if err != nil {
			t.Fatalf("baresip's dump: %v", err)
		}
		if got := time.Duration(len(pcm)) * time.Second / time.Duration(rate); got < talk/2 {
			t.Fatalf("baresip decoded %v of audio in a %v call", got, talk)
		}
		// The last two seconds before the hang-up: the mix is steady by then.
		w := pcm[len(pcm)-2*rate:]
		other := toneRMSOf(w, rate, toneA)
		own := toneRMSOf(w, rate, toneC)
		t.Logf("baresip heard %v Hz at %.0f RMS and its own %v Hz at %.0f RMS", toneA, other, toneC, own)
		if other < heardRMS || own > silentRMS {
			t.Fatalf("baresip hears the other caller at %.0f RMS (want above %.0f) and itself at %.0f (want below %.0f)",
				other, heardRMS, own, silentRMS)
		}
	})
}

// toneRMSOf is the RMS of the hz component of pcm.
func toneRMSOf(pcm []int16, rate int, hz float64) float64 {
	level := phone.ToneLevel(pcm, rate, hz)
	if math.IsInf(level, -1) {
		return 0
	}
	return phone.RMS(pcm) * math.Pow(10, level/20)
}
