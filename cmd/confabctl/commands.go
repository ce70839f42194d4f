package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// conferenceFlags are the settable fields of a conference; set reports
// which were given, so that an update changes only those.
func conferenceFlags(fs *flag.FlagSet) func() map[string]any {
	number := fs.String("number", "", "dial-in number, 2-15 digits")
	name := fs.String("name", "", "name")
	pin := fs.String("pin", "", "participant PIN, 4-12 digits (empty: none)")
	mpin := fs.String("moderator-pin", "", "moderator PIN, 4-12 digits (empty: none)")
	admission := fs.String("admission", "", "open, pin, lobby or closed")
	organizer := fs.String("organizer", "", "phone username of the organizer")
	wait := fs.Bool("wait-for-leader", false, "callers wait until a presenter joins")
	end := fs.Bool("end-when-leader-leaves", false, "end the conference when the last presenter leaves")
	ann := fs.Bool("announcements", true, "join and leave tones")
	max := fs.Int("max-members", 0, "maximum callers (0: no limit)")
	return func() map[string]any {
		body := map[string]any{}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "number":
				body["number"] = *number
			case "name":
				body["name"] = *name
			case "pin":
				body["pin"] = *pin
			case "moderator-pin":
				body["moderator_pin"] = *mpin
			case "admission":
				body["admission"] = *admission
			case "organizer":
				body["organizer"] = *organizer
			case "wait-for-leader":
				body["wait_for_leader"] = *wait
			case "end-when-leader-leaves":
				body["end_when_leader_leaves"] = *end
			case "announcements":
				body["announcements"] = *ann
			case "max-members":
				body["max_members"] = *max
			}
		})
		return body
	}
}

type conferenceJSON struct {
	ID           int64  `json:"id"`
	Number       string `json:"number"`
	Name         string `json:"name"`
	PIN          string `json:"pin"`
	ModeratorPIN string `json:"moderator_pin"`
	Admission    string `json:"admission"`
	FocusURI     string `json:"focus_uri"`
	Active       bool   `json:"active"`
	Locked       bool   `json:"locked"`
	Roster       *struct {
		Locked       bool `json:"locked"`
		Participants []struct {
			ID          string  `json:"id"`
			Name        string  `json:"name"`
			URI         string  `json:"uri"`
			Role        string  `json:"role"`
			State       string  `json:"state"`
			Codec       string  `json:"codec"`
			Muted       bool    `json:"muted"`
			Talking     bool    `json:"talking"`
			LossPercent float64 `json:"loss_percent"`
			JitterMs    float64 `json:"jitter_ms"`
			MOS         float64 `json:"mos"`
		} `json:"participants"`
	} `json:"roster"`
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c *client) conference(cmd string, args []string) error {
	switch cmd {
	case "create", "add":
		fs := flag.NewFlagSet("conference create", flag.ContinueOnError)
		body := conferenceFlags(fs)
		if _, err := parseFlags(fs, args); err != nil {
			return err
		}
		b := body()
		if b["number"] == nil || b["number"] == "" {
			return errors.New("conference create: --number is required")
		}
		var conf conferenceJSON
		if ok, err := c.decode(c.do("POST", "/api/v1/conferences", b), &conf); !ok {
			return err
		}
		fmt.Fprintf(c.out, "created conference %d: number %s, focus %s\n", conf.ID, conf.Number, conf.FocusURI)
		return nil
	case "update", "set":
		fs := flag.NewFlagSet("conference update", flag.ContinueOnError)
		body := conferenceFlags(fs)
		pos, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New("usage: confabctl conference update ID --name ... [--pin ...]")
		}
		var conf conferenceJSON
		if ok, err := c.decode(c.do("PATCH", "/api/v1/conferences/"+pos[0], body()), &conf); !ok {
			return err
		}
		fmt.Fprintf(c.out, "updated conference %d (number %s)\n", conf.ID, conf.Number)
		return nil
	case "list", "ls":
		var confs []conferenceJSON
		if ok, err := c.decode(c.do("GET", "/api/v1/conferences", nil), &confs); !ok {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNUMBER\tNAME\tPIN\tMODERATOR PIN\tADMISSION\tACTIVE\tLOCKED")
		for _, x := range confs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Number, x.Name, x.PIN, x.ModeratorPIN, x.Admission,
				yesNo(x.Active), yesNo(x.Locked))
		}
		return tw.Flush()
	case "show", "roster":
		if len(args) != 1 {
			return fmt.Errorf("usage: confabctl conference %s ID", cmd)
		}
		var conf conferenceJSON
		if ok, err := c.decode(c.do("GET", "/api/v1/conferences/"+args[0], nil), &conf); !ok {
			return err
		}
		fmt.Fprintf(c.out, "conference %s %q: active %s, locked %s\n", conf.Number, conf.Name, yesNo(conf.Active), yesNo(conf.Locked))
		if conf.Roster == nil {
			return nil
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCODEC\tMUTED\tTALKING\tLOSS %\tJITTER MS\tMOS")
		for _, p := range conf.Roster.Participants {
			name := p.Name
			if name == "" {
				name = p.URI
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%.1f\n", p.ID, name, p.Role, p.State, p.Codec,
				yesNo(p.Muted), yesNo(p.Talking), p.LossPercent, p.JitterMs, p.MOS)
		}
		return tw.Flush()
	case "delete", "rm":
		if len(args) != 1 {
			return errors.New("usage: confabctl conference delete ID")
		}
		if err := c.show(c.do("DELETE", "/api/v1/conferences/"+args[0], nil)); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.out, "deleted conference %s\n", args[0])
		}
		return nil
	case "lock", "unlock", "mute-all", "unmute-all", "end":
		if len(args) != 1 {
			return fmt.Errorf("usage: confabctl conference %s ID", cmd)
		}
		return c.show(c.do("POST", "/api/v1/conferences/"+args[0]+"/"+cmd, nil))
	}
	return errors.New("usage: confabctl conference create|list|show|roster|update|delete|lock|unlock|mute-all|unmute-all|end ...")
}

func (c *client) phone(cmd string, args []string) error {
	switch cmd {
	case "list", "ls":
		var users []struct {
			Username    string `json:"username"`
			DisplayName string `json:"display_name"`
			Realm       string `json:"realm"`
		}
		if ok, err := c.decode(c.do("GET", "/api/v1/users", nil), &users); !ok {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tNAME\tREALM")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Username, u.DisplayName, u.Realm)
		}
		return tw.Flush()
	case "add", "create":
		fs := flag.NewFlagSet("phone add", flag.ContinueOnError)
		pw := fs.String("password", "", "the phone's SIP password (required)")
		name := fs.String("name", "", "display name")
		pos, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 || *pw == "" {
			return errors.New("usage: confabctl phone add USERNAME --password PW [--name NAME]")
		}
		if err := c.show(c.do("POST", "/api/v1/users", map[string]string{"username": pos[0], "display_name": *name, "password": *pw})); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.out, "added phone %s\n", pos[0])
		}
		return nil
	case "delete", "rm":
		if len(args) != 1 {
			return errors.New("usage: confabctl phone delete USERNAME")
		}
		if err := c.show(c.do("DELETE", "/api/v1/users/"+args[0], nil)); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.out, "deleted phone %s\n", args[0])
		}
		return nil
	}
	return errors.New("usage: confabctl phone list|add|delete ...")
}

type didJSON struct {
	Number     string `json:"number"`
	Conference string `json:"conference"`
}

func (c *client) trunk(cmd string, args []string) error {
	switch cmd {
	case "list", "ls":
		var trunks []struct {
			ID       int64     `json:"id"`
			Name     string    `json:"name"`
			Peers    []string  `json:"peers"`
			DIDs     []didJSON `json:"dids"`
			Username string    `json:"username"`
		}
		if ok, err := c.decode(c.do("GET", "/api/v1/trunks", nil), &trunks); !ok {
			return err
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPEERS\tUSERNAME\tNUMBERS")
		for _, t := range trunks {
			var dids []string
			for _, d := range t.DIDs {
				if d.Conference == "" {
					d.Conference = "ask"
				}
				dids = append(dids, d.Number+"→"+d.Conference)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Peers, ","), t.Username, strings.Join(dids, " "))
		}
		return tw.Flush()
	case "add", "create":
		fs := flag.NewFlagSet("trunk add", flag.ContinueOnError)
		var peers, dids listFlag
		fs.Var(&peers, "peer", "address, prefix or host name calls come from (repeatable)")
		fs.Var(&dids, "did", "NUMBER=CONFERENCE, or NUMBER alone to ask the caller (repeatable)")
		user := fs.String("username", "", "digest username the trunk must give")
		pw := fs.String("password", "", "digest password the trunk must give")
		pos, err := parseFlags(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New("usage: confabctl trunk add NAME [--peer ADDR ...] [--did NUMBER=CONF ...] [--username U --password PW]")
		}
		body := map[string]any{"name": pos[0], "peers": []string(peers), "dids": []didJSON{}, "username": *user, "password": *pw}
		if peers == nil {
			body["peers"] = []string{}
		}
		for _, d := range dids {
			num, conf, _ := strings.Cut(d, "=")
			body["dids"] = append(body["dids"].([]didJSON), didJSON{Number: strings.TrimSpace(num), Conference: strings.TrimSpace(conf)})
		}
		var t struct {
			ID int64 `json:"id"`
		}
		if ok, err := c.decode(c.do("POST", "/api/v1/trunks", body), &t); !ok {
			return err
		}
		fmt.Fprintf(c.out, "added trunk %d (%s)\n", t.ID, pos[0])
		return nil
	case "delete", "rm":
		if len(args) != 1 {
			return errors.New("usage: confabctl trunk delete ID")
		}
		if err := c.show(c.do("DELETE", "/api/v1/trunks/"+args[0], nil)); err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(c.out, "deleted trunk %s\n", args[0])
		}
		return nil
	}
	return errors.New("usage: confabctl trunk list|add|delete ...")
}

// backup writes the configuration backup to FILE (written whole or not at
// all) or standard output.
func (c *client) backup(args []string) error {
	if len(args) > 1 {
		return errors.New("usage: confabctl backup [FILE]")
	}
	r := c.do("GET", "/api/v1/backup", nil)
	if r.err != nil {
		return r.err
	}
	if len(args) == 0 || args[0] == "-" {
		_, err := c.out.Write(r.body)
		return err
	}
	tmp := args[0] + ".part"
	if err := os.WriteFile(tmp, r.body, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, args[0]); err != nil {
		os.Remove(tmp)
		return err
	}
	if !c.json {
		fmt.Fprintf(c.out, "backup written to %s (%d bytes)\n", args[0], len(r.body))
	}
	return nil
}

// restore replaces the box's configuration with a backup file (or
// standard input with "-").
func (c *client) restore(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: confabctl restore FILE")
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	r := c.send("POST", "/api/v1/restore", in)
	if r.err != nil {
		return r.err
	}
	if c.json {
		return printJSON(c.out, r.body)
	}
	fmt.Fprintln(c.out, "restored:", strings.TrimSpace(string(r.body)))
	return nil
}
