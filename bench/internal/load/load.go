// Package load is the small closed-loop HTTP load generator the bench programs share: C
// workers send requests back to back for a duration and record every latency.
package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one run.
type Result struct {
	Name     string
	Requests int
	Errors   int64
	RPS      float64
	P50, P99 time.Duration
}

// Run sends requests made by newReq from c workers for d and returns throughput and latency.
func Run(name string, c int, d time.Duration, newReq func(worker, i int) *http.Request) Result {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c * 2, MaxConnsPerHost: c * 2}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for i := 0; ctx.Err() == nil; i++ {
				req := newReq(w, i)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs.Add(1)
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lats)
	r := Result{Name: name, Requests: len(lats), Errors: errs.Load(), RPS: float64(len(lats)) / el.Seconds()}
	if len(lats) > 0 {
		r.P50 = lats[len(lats)/2]
		r.P99 = lats[len(lats)*99/100]
	}
	return r
}

// PeakRSS reads a process's peak resident set size (VmHWM) in MiB.
func PeakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// Build compiles a package of the repository into dir and returns the binary's path.
func Build(dir, pkg, name string) (string, error) {
	out := dir + "/" + name
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stderr = os.Stderr
	return out, cmd.Run()
}

// WaitHTTP polls url until it answers 200 or the timeout passes.
func WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, timeout)
}
