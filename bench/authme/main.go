// Command authme measures GET /v1/auth/me through the whole stack (JWT, the Redis rate
// limits, the Postgres read, JSON) of a real `axon serve` process against a baseline echo
// server doing the same Postgres read (bench/authme/bare), in one run, and prints both with
// their ratio and the servers' peak RSS. The requests spread over many registered users and
// client addresses under the real limits (300/min per address, 120/min per user), so the
// limiter does all its work and limits nothing. bench/all runs the same scenario in its table.
//
//	go run ./bench/authme                         # needs Postgres and Redis, like make test
//	go run ./bench/authme -c 32 -d 20s -cpuprofile /tmp/axon.pprof
//	go tool pprof -top /tmp/axon.pprof
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/axonhq/axon/bench/internal/httpbench"
	"github.com/axonhq/axon/bench/internal/load"
)

func main() {
	var o httpbench.AuthOptions
	flag.IntVar(&o.Conc, "c", 32, "concurrent clients")
	flag.DurationVar(&o.Dur, "d", 10*time.Second, "measured time per server (split into rounds)")
	flag.IntVar(&o.Rounds, "rounds", 4, "rounds alternating axon and the baseline")
	flag.IntVar(&o.Users, "users", 1000, "registered users the requests spread over")
	flag.IntVar(&o.IPs, "ips", 4000, "client addresses the requests come from")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of axon serve under the same load to this file")
	verbose := flag.Bool("v", false, "show build progress and the servers' output")
	flag.Parse()
	if err := run(o, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "authme:", err)
		os.Exit(1)
	}
}

func run(o httpbench.AuthOptions, verbose bool) error {
	e, err := httpbench.Start(httpbench.FromEnv(o.CPUProfile != "", verbose))
	if err != nil {
		return err
	}
	defer e.Close()
	r, err := e.Auth(o)
	if err != nil {
		return err
	}
	fmt.Printf("%d clients, %s per server in %d alternating rounds, %d users, %d client addresses\n\n",
		o.Conc, o.Dur, o.Rounds, r.Users, r.IPs)
	fmt.Printf("%-34s %9s %7s %6s %9s %9s %9s %10s\n", "run", "req/s", "errors", "429", "p50", "p95", "p99", "peak RSS")
	for _, x := range []struct {
		load.Result
		rss float64
	}{{r.Full, r.FullRSS}, {r.Base, r.BaseRSS}} {
		fmt.Printf("%-34s %9.0f %7d %6d %9s %9s %9s %6.1f MiB\n", x.Name, x.RPS, x.Errors, x.Limited,
			x.P50.Round(time.Microsecond), x.P95.Round(time.Microsecond), x.P99.Round(time.Microsecond), x.rss)
	}
	fmt.Printf("\nCPU per request (server / redis-server / postgres): axon %s / %s / %s, baseline %s / %s / %s\n",
		us(r.FullCPU.Server), us(r.FullCPU.Redis), us(r.FullCPU.Postgres), us(r.BaseCPU.Server), us(r.BaseCPU.Redis), us(r.BaseCPU.Postgres))
	fmt.Printf("axon / baseline: throughput %.2f×, p99 %.2f× (target ≥ 0.8×, ≤ 1.5×)\n",
		r.Full.RPS/r.Base.RPS, float64(r.Full.P99)/float64(r.Base.P99))
	if o.CPUProfile != "" {
		fmt.Printf("CPU profile of axon serve: %s (go tool pprof -top %s)\n", o.CPUProfile, o.CPUProfile)
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
