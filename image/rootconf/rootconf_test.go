package rootconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	c := Default("1.2.3")
	c.ConfabdEnv = []string{"CONFAB_LOG_LEVEL=debug"}
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the default configuration reads back as written", func(t *testing.T) {
		got, err := Parse(b)
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("Parse = %+v, %v", got, err)
		}
	})
	t.Run("durations are written as text", func(t *testing.T) {
		if !strings.Contains(string(b), `"commit_timeout": "1m30s"`) {
			t.Fatalf("JSON:\n%s", b)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
	}{
		{"a version with a slash", func(c *Config) { c.Version = "1/2" }},
		{"a relative confabd path", func(c *Config) { c.ConfabdPath = "confabd" }},
		{"arguments that set the data directory", func(c *Config) { c.ConfabdArgs = append(c.ConfabdArgs, "-data=/tmp") }},
		{"an environment entry without a value", func(c *Config) { c.ConfabdEnv = []string{"CONFAB_X"} }},
		{"a SIP probe without a port", func(c *Config) { c.HealthSIP = "127.0.0.1" }},
		{"a health URL of another scheme", func(c *Config) { c.HealthURL = "ftp://127.0.0.1/" }},
		{"a commit timeout too short to boot", func(c *Config) { c.CommitTimeout = Duration(time.Second) }},
		{"a watchdog timeout of one second", func(c *Config) { c.WatchdogTimeout = Duration(time.Second) }},
	}
	for _, tt := range tests {
		t.Run("a configuration with "+tt.name+" is refused", func(t *testing.T) {
			c := Default("1.0")
			tt.change(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
	t.Run("an unknown field is refused", func(t *testing.T) {
		if _, err := Parse([]byte(`{"version":"1","surprise":true}`)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parse = %v", err)
		}
	})
}
