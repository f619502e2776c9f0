// Command authme measures GET /v1/auth/me through the whole stack (JWT, Redis rate limits,
// Postgres read) of a real `axon serve` process against a bare echo handler on the same
// machine, in one run, and prints both with their ratio and the servers' peak RSS.
//
//	go run ./bench/authme            # needs Postgres (axon_test) and Redis, like make test
//	go run ./bench/authme -c 32 -d 10s
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/axonhq/axon/bench/internal/load"
)

func main() {
	conc := flag.Int("c", 32, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration of each run")
	flag.Parse()
	if err := run(*conc, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "authme:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(c int, d time.Duration) error {
	dir, err := os.MkdirTemp("", "axon-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	axon, err := load.Build(dir, ".", "axon")
	if err != nil {
		return err
	}
	bare, err := load.Build(dir, "./bench/authme/bare", "bare")
	if err != nil {
		return err
	}
	common := append(os.Environ(),
		"APP_ENV=test", "BCRYPT_COST=4", "LOG_LEVEL=error",
		"DATABASE_URL="+env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/axon_test?sslmode=disable&connection_limit=20"),
		"REDIS_URL="+env("REDIS_URL", "redis://127.0.0.1:6379/0"),
		// The limiter runs on every request; scaled up so the benchmark measures its cost
		// without being throttled by it.
		"RATE_LIMIT_SCALE=100000",
	)
	mig := exec.Command(axon, "migrate")
	mig.Env = common
	if out, err := mig.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v: %s", err, out)
	}

	srv := exec.Command(axon, "serve")
	srv.Env = append(common, "PORT=3591")
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill() }()
	if err := load.WaitHTTP("http://127.0.0.1:3591/health", 20*time.Second); err != nil {
		return err
	}
	token, err := register("http://127.0.0.1:3591")
	if err != nil {
		return err
	}
	me := func(int, int) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:3591/v1/auth/me", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		return r
	}
	load.Run("warm-up", c, time.Second, me)
	full := load.Run("GET /v1/auth/me (axon serve)", c, d, me)
	fullRSS := load.PeakRSS(srv.Process.Pid)

	b := exec.Command(bare)
	b.Env = append(os.Environ(), "PORT=3592")
	if err := b.Start(); err != nil {
		return err
	}
	defer func() { _ = b.Process.Kill() }()
	if err := load.WaitHTTP("http://127.0.0.1:3592/ping", 10*time.Second); err != nil {
		return err
	}
	ping := func(int, int) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:3592/ping", nil)
		return r
	}
	load.Run("warm-up", c, time.Second, ping)
	base := load.Run("GET /ping (bare echo)", c, d, ping)
	baseRSS := load.PeakRSS(b.Process.Pid)

	fmt.Printf("%d clients, %s per run\n\n", c, d)
	fmt.Printf("%-32s %10s %8s %10s %10s %12s\n", "run", "req/s", "errors", "p50", "p99", "peak RSS")
	for _, r := range []struct {
		load.Result
		rss float64
	}{{full, fullRSS}, {base, baseRSS}} {
		fmt.Printf("%-32s %10.0f %8d %10s %10s %9.1f MiB\n", r.Name, r.RPS, r.Errors, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.rss)
	}
	fmt.Printf("\nfull stack / bare: throughput %.2f×, p99 %.2f×\n", full.RPS/base.RPS, float64(full.P99)/float64(base.P99))
	return nil
}

func register(base string) (string, error) {
	body, _ := json.Marshal(map[string]string{"name": "Bench User", "email": fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano()), "password": "benchmark-password"})
	res, err := http.Post(base+"/v1/auth/register", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct{ AccessToken string }
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("register: status %d", res.StatusCode)
	}
	return out.AccessToken, nil
}
