package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"confab/image/netconf"
	"confab/image/update"
)

// ErrNotAppliance means there is no control API: confabd does not run
// inside the appliance image, and the host's OS manages updates and the
// network.
var ErrNotAppliance = errors.New("control: not running on the appliance image")

// Error is a refusal by the API, with its message for the admin.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Client is confabd's side of the API (the System page's).
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client of the API at socket.
func NewClient(socket string) *Client {
	return &Client{socket: socket, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// NetworkInfo is GET /network: the stored settings and what the box runs.
type NetworkInfo struct {
	Config netconf.Config `json:"config"`
	State  netconf.State  `json:"state"`
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	if _, err := os.Stat(c.socket); errors.Is(err, os.ErrNotExist) {
		return ErrNotAppliance
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://init"+path, body)
	if err != nil {
		return err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("the appliance's system service is not answering: %w", err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("the appliance's system service: %w", err)
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("the appliance's system service answered %s", res.Status)
		}
		return &Error{Status: res.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the appliance's system service: %w", err)
	}
	return nil
}

// Status is GET /status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var st Status
	err := c.do(ctx, "GET", "/status", nil, &st)
	return st, err
}

// Install uploads a bundle (POST /update). The install runs as the bytes
// arrive; it ends with the request.
func (c *Client) Install(ctx context.Context, bundle io.Reader, p update.Policy) (update.Installed, error) {
	path := "/update"
	if p.AllowOlder {
		path += "?allow_older=1"
	}
	var res update.Installed
	err := c.do(ctx, "POST", path, bundle, &res)
	return res, err
}

// Reboot is POST /reboot.
func (c *Client) Reboot(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.do(ctx, "POST", "/reboot", nil, nil)
}

// Network is GET /network.
func (c *Client) Network(ctx context.Context) (NetworkInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n NetworkInfo
	err := c.do(ctx, "GET", "/network", nil, &n)
	return n, err
}

// SetNetwork is PUT /network; the settings apply at the next boot.
func (c *Client) SetNetwork(ctx context.Context, cfg netconf.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return c.do(ctx, "PUT", "/network", bytes.NewReader(b), nil)
}
