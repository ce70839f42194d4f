// Command confabctl drives a Confab appliance over its JSON API: the same
// API, and so the same checks, as the web page.
//
//	confabctl conference create --number 7001 [--name "Weekly"] [--pin 1234] [--moderator-pin 9876] ...
//	confabctl conference list
//	confabctl conference show|roster ID
//	confabctl conference update ID [--name ...] [--pin ...] ...
//	confabctl conference delete ID
//	confabctl conference lock|unlock|mute-all|unmute-all|end ID
//	confabctl participant mute|unmute|deaf|undeaf|kick|presenter|attendee|admit CONF-ID PARTICIPANT-ID
//	confabctl phone list
//	confabctl phone add USERNAME --password PW [--name "Front desk"]
//	confabctl phone delete USERNAME
//	confabctl trunk list
//	confabctl trunk add NAME [--peer 192.0.2.0/24 ...] [--did +15551230000=7001 ...] [--username U --password PW]
//	confabctl trunk delete ID
//	confabctl backup [FILE]        (default: standard output)
//	confabctl restore FILE
//
// The API address comes from --url or CONFAB_URL (default
// http://127.0.0.1:8080). It authenticates with an API token made on the
// web page's Account page (--token or CONFAB_TOKEN), or with the admin
// password (--password or CONFAB_ADMIN_PASSWORD). --json prints what the
// API answers, for scripts. --cacert trusts the box's own HTTPS
// certificate (https-cert.pem in its data directory).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "confabctl:", err)
		os.Exit(1)
	}
}

const usage = `usage: confabctl [--url URL] [--token T | --password PW] [--json] [--cacert FILE] COMMAND ...
commands:
  conference create|list|show|roster|update|delete|lock|unlock|mute-all|unmute-all|end ...
  participant mute|unmute|deaf|undeaf|kick|presenter|attendee|admit CONF-ID PARTICIPANT-ID
  phone list|add|delete ...
  trunk list|add|delete ...
  backup [FILE]
  restore FILE`

// client talks to one appliance.
type client struct {
	url, user, password, token string
	json                       bool
	http                       *http.Client
	out                        io.Writer
}

func run(args []string, out io.Writer, getenv func(string) string) error {
	global := flag.NewFlagSet("confabctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	def := func(k, d string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return d
	}
	url := global.String("url", def("CONFAB_URL", "http://127.0.0.1:8080"), "API base URL [CONFAB_URL]")
	user := global.String("user", "admin", "admin user")
	pw := global.String("password", def("CONFAB_ADMIN_PASSWORD", ""), "admin password [CONFAB_ADMIN_PASSWORD]")
	token := global.String("token", def("CONFAB_TOKEN", ""), "API token from the web page's Account page [CONFAB_TOKEN]")
	asJSON := global.Bool("json", false, "print the API's JSON answer")
	cacert := global.String("cacert", def("CONFAB_CACERT", ""), "PEM certificate to trust for HTTPS, e.g. the box's https-cert.pem [CONFAB_CACERT]")
	if err := global.Parse(args); err != nil {
		return fmt.Errorf("%v\n%s", err, usage)
	}
	rest := global.Args()
	if len(rest) < 1 {
		return errors.New(usage)
	}
	c := &client{url: strings.TrimRight(*url, "/"), user: *user, password: *pw, token: *token, json: *asJSON, out: out,
		http: &http.Client{Timeout: 30 * time.Second}}
	if *cacert != "" {
		pem, err := os.ReadFile(*cacert)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *cacert)
		}
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	if c.token == "" && c.password == "" {
		return errors.New("no credentials: give --token (an API token from the web page) or --password, or set CONFAB_TOKEN or CONFAB_ADMIN_PASSWORD")
	}
	cmd, sub := rest[0], ""
	if len(rest) > 1 {
		sub = rest[1]
	}
	switch cmd {
	case "conference", "conf":
		return c.conference(sub, tail(rest, 2))
	case "participant", "p":
		if len(rest) != 4 {
			return errors.New("usage: confabctl participant COMMAND CONF-ID PARTICIPANT-ID")
		}
		return c.show(c.do("POST", fmt.Sprintf("/api/v1/conferences/%s/participants/%s/%s", rest[2], rest[3], rest[1]), nil))
	case "phone", "phones":
		return c.phone(sub, tail(rest, 2))
	case "trunk", "trunks":
		return c.trunk(sub, tail(rest, 2))
	case "backup":
		return c.backup(tail(rest, 1))
	case "restore":
		return c.restore(tail(rest, 1))
	}
	return errors.New(usage)
}

func tail(s []string, n int) []string {
	if len(s) <= n {
		return nil
	}
	return s[n:]
}

// reply is an API answer.
type reply struct {
	body []byte
	err  error
}

// do sends a request with a JSON body (nil for none).
func (c *client) do(method, path string, body any) reply {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{err: err}
		}
		rd = bytes.NewReader(b)
	}
	return c.send(method, path, rd)
}

func (c *client) send(method, path string, body io.Reader) reply {
	req, err := http.NewRequest(method, c.url+path, body)
	if err != nil {
		return reply{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return reply{err: err}
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return reply{err: fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)}
		}
		return reply{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))}
	}
	return reply{body: b}
}

// show prints an answer as JSON with --json, or nothing (the command
// prints its own summary).
func (c *client) show(r reply) error {
	if r.err != nil {
		return r.err
	}
	if c.json && len(r.body) > 0 {
		return printJSON(c.out, r.body)
	}
	return nil
}

func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

// decode reads an answer for the table output, or prints it with --json;
// it reports whether the caller should print the table.
func (c *client) decode(r reply, v any) (bool, error) {
	if r.err != nil {
		return false, r.err
	}
	if c.json {
		return false, printJSON(c.out, r.body)
	}
	return true, json.Unmarshal(r.body, v)
}

// listFlag collects a flag given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags parses fs over args, allowing positional arguments before the
// flags ("phone add 201 --password x"), and returns the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return pos, nil
}
