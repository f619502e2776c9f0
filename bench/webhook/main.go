// Command webhook measures the inbound WhatsApp webhook (signed messages through the whole
// stack of a real `axon serve`: channel, signature, parse, the inbox INSERT and the River
// insert in one transaction, the 200) against the baseline server's bare INSERT + River
// insert (bench/authme/bare), in one run, and prints both with their ratio and the CPU per
// request of the server, Redis and Postgres. bench/all runs the same scenario in its table.
//
//	go run ./bench/webhook                        # needs Postgres and Redis, like make test
//	go run ./bench/webhook -c 16 -d 20s -cpuprofile /tmp/axon.pprof
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
	var o httpbench.WebhookOptions
	flag.IntVar(&o.Conc, "c", 32, "concurrent senders")
	flag.DurationVar(&o.Dur, "d", 10*time.Second, "measured time per server (split into rounds)")
	flag.IntVar(&o.Rounds, "rounds", 4, "rounds alternating axon and the baseline")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of axon serve under the same load to this file")
	verbose := flag.Bool("v", false, "show build progress and the servers' output")
	flag.Parse()
	if err := run(o, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
}

func run(o httpbench.WebhookOptions, verbose bool) error {
	e, err := httpbench.Start(httpbench.FromEnv(o.CPUProfile != "", verbose))
	if err != nil {
		return err
	}
	defer e.Close()
	r, err := e.Webhook(o)
	if err != nil {
		return err
	}
	fmt.Printf("%d senders, %s per server in %d alternating rounds\n\n", o.Conc, o.Dur, o.Rounds)
	fmt.Printf("%-48s %9s %7s %9s %9s %9s\n", "run", "req/s", "errors", "p50", "p95", "p99")
	for _, x := range []load.Result{r.Full, r.Base} {
		fmt.Printf("%-48s %9.0f %7d %9s %9s %9s\n", x.Name, x.RPS, x.Errors,
			x.P50.Round(time.Microsecond), x.P95.Round(time.Microsecond), x.P99.Round(time.Microsecond))
	}
	fmt.Printf("\nCPU per request (server / redis-server / postgres): axon %s / %s / %s, baseline %s / %s / %s\n",
		us(r.FullCPU.Server), us(r.FullCPU.Redis), us(r.FullCPU.Postgres), us(r.BaseCPU.Server), us(r.BaseCPU.Redis), us(r.BaseCPU.Postgres))
	fmt.Printf("axon / baseline: %.2f× (target ≥ 0.5×, and ≥ 2,000/s)\n", r.Full.RPS/r.Base.RPS)
	if o.CPUProfile != "" {
		fmt.Printf("CPU profile of axon serve: %s (go tool pprof -top %s)\n", o.CPUProfile, o.CPUProfile)
	}
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
