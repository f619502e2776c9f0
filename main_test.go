package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRun drives the command tree through run, as main does, without a database.
func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{"APP_ENV": "test"}
	getenv := func(k string) string { return env[k] }
	if err := run(context.Background(), []string{"--help"}, getenv, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"serve", "work", "migrate", "rollback-resolve", "dev"} {
		if !strings.Contains(out.String(), "\n  "+role+" ") {
			t.Errorf("help does not list %s:\n%s", role, out.String())
		}
	}
	if err := run(context.Background(), []string{"launch"}, getenv, &out, &errb); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	env["BCRYPT_COST"] = "2"
	if err := run(context.Background(), []string{"serve"}, getenv, &out, &errb); err == nil || !strings.Contains(err.Error(), "BCRYPT_COST") {
		t.Errorf("bad BCRYPT_COST: %v", err)
	}
}
