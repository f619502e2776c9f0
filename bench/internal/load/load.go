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

// Result is one run (or several merged).
type Result struct {
	Name          string
	Requests      int
	Errors        int64
	Limited       int64 // 429 answers (counted in Errors too)
	RPS           float64
	P50, P95, P99 time.Duration
	// Lats are every request's latency, sorted; Elapsed is the wall time of the run(s).
	Lats    []time.Duration
	Elapsed time.Duration
}

// Merge combines runs of the same load (rounds interleaved with another server's, so that a
// change of machine load affects both sides alike) into one result.
func Merge(name string, rs ...Result) Result {
	out := Result{Name: name}
	for _, r := range rs {
		out.Requests += r.Requests
		out.Errors += r.Errors
		out.Limited += r.Limited
		out.Elapsed += r.Elapsed
		out.Lats = append(out.Lats, r.Lats...)
	}
	return out.finish()
}

func (r Result) finish() Result {
	slices.Sort(r.Lats)
	if r.Elapsed > 0 {
		r.RPS = float64(len(r.Lats)) / r.Elapsed.Seconds()
	}
	r.Requests = len(r.Lats)
	if n := len(r.Lats); n > 0 {
		r.P50 = r.Lats[n*50/100]
		r.P95 = r.Lats[n*95/100]
		r.P99 = r.Lats[n*99/100]
	}
	return r
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
		lim  atomic.Int64
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
					if res.StatusCode == http.StatusTooManyRequests {
						lim.Add(1)
					}
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	return Result{Name: name, Errors: errs.Load(), Limited: lim.Load(), Lats: lats, Elapsed: time.Since(start)}.finish()
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

// Build compiles a package of the repository into dir (with the given build tags, if any)
// and returns the binary's path.
func Build(dir, pkg, name string, tags ...string) (string, error) {
	out := dir + "/" + name
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
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

// CPUTime is the user+system CPU time a process has used so far (0 when unreadable).
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name (field 2) may hold spaces; the fields after its ')' are fixed.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// PIDs lists the processes whose command name is name (redis-server, postgres).
func PIDs(name string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == name {
			out = append(out, pid)
		}
	}
	return out
}

// CPUMeter adds up the CPU time of a set of processes (by pid, and by command name, looked
// up at every reading so that new Postgres backends count) between Start and Stop.
type CPUMeter struct {
	pids  []int
	names []string
	start map[int]time.Duration
	Total time.Duration
}

// NewCPUMeter meters pids and every process named one of names.
func NewCPUMeter(pids []int, names ...string) *CPUMeter {
	return &CPUMeter{pids: pids, names: names}
}

func (m *CPUMeter) read() map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, p := range m.pids {
		out[p] = CPUTime(p)
	}
	for _, n := range m.names {
		for _, p := range PIDs(n) {
			out[p] = CPUTime(p)
		}
	}
	return out
}

// Start takes the first reading.
func (m *CPUMeter) Start() { m.start = m.read() }

// Stop adds the CPU used since Start to Total.
func (m *CPUMeter) Stop() {
	for p, t := range m.read() {
		m.Total += t - m.start[p]
	}
}
