// Command confabctl drives a Confab appliance over its JSON API.
//
//	confabctl conference create --number 7001 --pin 1234 [--moderator-pin 9876] [--name "Weekly"]
//	confabctl conference list
//	confabctl conference show|roster ID
//	confabctl conference delete ID
//	confabctl conference lock|unlock|mute-all|unmute-all|end ID
//	confabctl participant mute|unmute|deaf|undeaf|kick|presenter|attendee CONF-ID PARTICIPANT-ID
//
// The API address comes from --url or CONFAB_URL (default
// http://127.0.0.1:8080), the admin password from --password or
// CONFAB_ADMIN_PASSWORD.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "confabctl:", err)
		os.Exit(1)
	}
}

type client struct {
	url, user, password string
	http                *http.Client
}

func run(args []string, out io.Writer, getenv func(string) string) error {
	global := flag.NewFlagSet("confabctl", flag.ContinueOnError)
	def := func(k, d string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return d
	}
	url := global.String("url", def("CONFAB_URL", "http://127.0.0.1:8080"), "API base URL [CONFAB_URL]")
	user := global.String("user", "admin", "admin user")
	pw := global.String("password", def("CONFAB_ADMIN_PASSWORD", ""), "admin password [CONFAB_ADMIN_PASSWORD]")
	if err := global.Parse(args); err != nil {
		return err
	}
	rest := global.Args()
	if len(rest) < 2 {
		return errors.New(usage)
	}
	c := &client{url: strings.TrimRight(*url, "/"), user: *user, password: *pw, http: &http.Client{Timeout: 15 * time.Second}}
	switch rest[0] {
	case "conference", "conf":
		return c.conference(rest[1], rest[2:], out)
	case "participant", "p":
		if len(rest) != 4 {
			return errors.New("usage: confabctl participant COMMAND CONF-ID PARTICIPANT-ID")
		}
		return c.do("POST", fmt.Sprintf("/api/v1/conferences/%s/participants/%s/%s", rest[2], rest[3], rest[1]), nil, nil)
	}
	return errors.New(usage)
}

const usage = `usage: confabctl [--url URL] [--password PW] conference create|list|show|roster|delete|lock|unlock|mute-all|unmute-all|end ...
       confabctl participant mute|unmute|deaf|undeaf|kick|presenter|attendee CONF-ID PARTICIPANT-ID`

func (c *client) conference(cmd string, args []string, out io.Writer) error {
	switch cmd {
	case "create":
		fs := flag.NewFlagSet("create", flag.ContinueOnError)
		number := fs.String("number", "", "dial-in number (required)")
		name := fs.String("name", "", "name")
		pin := fs.String("pin", "", "participant PIN")
		mpin := fs.String("moderator-pin", "", "moderator PIN")
		lock := fs.Bool("wait-for-leader", false, "attendees wait until a presenter joins")
		end := fs.Bool("end-when-leader-leaves", false, "end the conference when the last presenter leaves")
		max := fs.Int("max-members", 0, "maximum participants (0 = no limit)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if *number == "" {
			return errors.New("conference create: --number is required")
		}
		body := map[string]any{"number": *number, "name": *name, "pin": *pin, "moderator_pin": *mpin,
			"wait_for_leader": *lock, "end_when_leader_leaves": *end, "max_members": *max}
		var conf map[string]any
		if err := c.do("POST", "/api/v1/conferences", body, &conf); err != nil {
			return err
		}
		fmt.Fprintf(out, "created conference %v: number %v, focus %v\n", conf["id"], conf["number"], conf["focus_uri"])
		return nil
	case "list", "ls":
		var confs []map[string]any
		if err := c.do("GET", "/api/v1/conferences", nil, &confs); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNUMBER\tNAME\tPIN\tACTIVE\tLOCKED")
		for _, x := range confs {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\n", x["id"], x["number"], x["name"], x["pin"], x["active"], x["locked"])
		}
		return tw.Flush()
	case "show", "roster":
		if len(args) != 1 {
			return fmt.Errorf("usage: confabctl conference %s ID", cmd)
		}
		var conf struct {
			Number string `json:"number"`
			Name   string `json:"name"`
			Active bool   `json:"active"`
			Roster *struct {
				Locked       bool `json:"locked"`
				Participants []struct {
					ID, Name, Role, State, Codec string
					Muted, Talking               bool
					MOS                          float64 `json:"mos"`
				} `json:"participants"`
			} `json:"roster"`
		}
		if err := c.do("GET", "/api/v1/conferences/"+args[0], nil, &conf); err != nil {
			return err
		}
		fmt.Fprintf(out, "conference %s %q active=%v\n", conf.Number, conf.Name, conf.Active)
		if conf.Roster != nil {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCODEC\tMUTED\tTALKING\tMOS")
			for _, p := range conf.Roster.Participants {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%v\t%.2f\n", p.ID, p.Name, p.Role, p.State, p.Codec, p.Muted, p.Talking, p.MOS)
			}
			return tw.Flush()
		}
		return nil
	case "delete", "rm":
		if len(args) != 1 {
			return errors.New("usage: confabctl conference delete ID")
		}
		return c.do("DELETE", "/api/v1/conferences/"+args[0], nil, nil)
	case "lock", "unlock", "mute-all", "unmute-all", "end":
		if len(args) != 1 {
			return fmt.Errorf("usage: confabctl conference %s ID", cmd)
		}
		return c.do("POST", "/api/v1/conferences/"+args[0]+"/"+cmd, nil, nil)
	}
	return errors.New(usage)
}

func (c *client) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}
