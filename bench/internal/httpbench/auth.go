package httpbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/axonhq/axon/bench/internal/load"
)

// AuthOptions configures the authenticated-read scenario.
type AuthOptions struct {
	Conc   int           // concurrent clients (default 32)
	Dur    time.Duration // measured time per server, split into Rounds (default 10 s)
	Rounds int           // rounds alternating the two servers (default 4)
	Users  int           // registered users the requests spread over (default 1000)
	IPs    int           // client addresses (X-Forwarded-For) they come from (default 4000)
	// CPUProfile, when set (and Env started with Profile), receives a CPU profile of
	// axon serve taken during an extra round after the measured ones.
	CPUProfile string
}

// AuthResult is GET /v1/auth/me through axon against the baseline's same read.
type AuthResult struct {
	Full, Base       load.Result
	FullRSS, BaseRSS float64 // peak RSS in MiB
	Users, IPs       int
	// CPU per request (the machine's two cores are shared by the load generator, the
	// server, Redis and Postgres, so CPU per request is what bounds throughput):
	// the server's own process, redis-server and every postgres process, during each
	// server's rounds. Redis and Postgres include whatever else runs on the machine.
	FullCPU, BaseCPU CPUShare
}

// CPUShare is CPU time per request of the server, Redis and Postgres.
type CPUShare struct{ Server, Redis, Postgres time.Duration }

func (e *Env) meters(pid int) [3]*load.CPUMeter {
	return [3]*load.CPUMeter{load.NewCPUMeter([]int{pid}), load.NewCPUMeter(nil, "redis-server"), load.NewCPUMeter(nil, "postgres")}
}

// metered runs fn between the meters' readings.
func metered(ms [3]*load.CPUMeter, fn func() load.Result) load.Result {
	for _, m := range ms {
		m.Start()
	}
	r := fn()
	for _, m := range ms {
		m.Stop()
	}
	return r
}

func share(ms [3]*load.CPUMeter, r load.Result) CPUShare {
	n := time.Duration(max(1, r.Requests))
	return CPUShare{Server: ms[0].Total / n, Redis: ms[1].Total / n, Postgres: ms[2].Total / n}
}

// user is one registered account.
type user struct{ id, token string }

// Auth registers o.Users accounts (each from its own address) and sends GET /v1/auth/me
// for them from o.IPs addresses, under the real limits (300/min per address, 120/min per
// user); the baseline runs the same read for the same users. The two servers alternate in
// rounds so that other load on the machine hits both alike.
func (e *Env) Auth(o AuthOptions) (AuthResult, error) {
	if o.Conc <= 0 {
		o.Conc = 32
	}
	if o.Dur <= 0 {
		o.Dur = 10 * time.Second
	}
	if o.Rounds <= 0 {
		o.Rounds = 4
	}
	if o.Users <= 0 {
		o.Users = 1000
	}
	if o.IPs <= 0 {
		o.IPs = 4000
	}
	fmt.Fprintf(e.o.Log, "registering %d users...\n", o.Users)
	users, err := e.register(o.Users)
	if err != nil {
		return AuthResult{}, err
	}
	ips := addresses(o.IPs, 18) // 198.18.0.0/16: traffic
	pick := func(w, i int) (user, string) {
		return users[(w*131+i)%len(users)], ips[(w*7919+i*13)%len(ips)]
	}
	full := func(w, i int) *http.Request {
		u, ip := pick(w, i)
		r, _ := http.NewRequest(http.MethodGet, e.ServeURL+"/v1/auth/me", nil)
		r.Header.Set("Authorization", "Bearer "+u.token)
		r.Header.Set("X-Forwarded-For", ip)
		return r
	}
	base := func(w, i int) *http.Request {
		u, ip := pick(w, i)
		r, _ := http.NewRequest(http.MethodGet, e.BareURL+"/me", nil)
		r.Header.Set("X-Bench-User", u.id)
		r.Header.Set("X-Forwarded-For", ip)
		return r
	}
	load.Run("warm-up", o.Conc, time.Second, full)
	load.Run("warm-up", o.Conc, time.Second, base)
	per := o.Dur / time.Duration(o.Rounds)
	var fulls, bases []load.Result
	fm, bm := e.meters(e.ServePID()), e.meters(e.BarePID())
	runFull := func() {
		fulls = append(fulls, metered(fm, func() load.Result { return load.Run("full", o.Conc, per, full) }))
	}
	runBase := func() {
		bases = append(bases, metered(bm, func() load.Result { return load.Run("base", o.Conc, per, base) }))
	}
	for r := range o.Rounds {
		if r%2 == 0 {
			runFull()
			runBase()
		} else {
			runBase()
			runFull()
		}
	}
	res := AuthResult{
		Full:    load.Merge("GET /v1/auth/me (axon serve)", fulls...),
		Base:    load.Merge("GET /me (echo + the same read)", bases...),
		FullRSS: load.PeakRSS(e.ServePID()), BaseRSS: load.PeakRSS(e.BarePID()),
		Users: o.Users, IPs: o.IPs,
	}
	res.FullCPU, res.BaseCPU = share(fm, res.Full), share(bm, res.Base)
	if o.CPUProfile != "" {
		d := max(per, 5*time.Second)
		if err := e.profile(o.CPUProfile, d, func() { load.Run("profiled", o.Conc, d+time.Second, full) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// profile takes a CPU profile of axon serve for d while work runs.
func (e *Env) profile(path string, d time.Duration, work func()) error {
	if e.pprofAddr == "" {
		return fmt.Errorf("cpu profile: start the environment with Profile")
	}
	var wg sync.WaitGroup
	wg.Go(work)
	defer wg.Wait()
	time.Sleep(300 * time.Millisecond)
	res, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", e.pprofAddr, max(1, int(d.Seconds()))))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// register creates n accounts through POST /v1/auth/register, each from its own address in
// 198.19.0.0/16 (register allows 5 an hour per address), 16 at a time.
func (e *Env) register(n int) ([]user, error) {
	ips := addresses(n, 19)
	out := make([]user, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	stamp := time.Now().UnixNano()
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			u, err := e.registerOne(fmt.Sprintf("bench-%d-%d@example.com", stamp, i), ips[i])
			if err != nil {
				errs <- err
				return
			}
			out[i] = u
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Env) registerOne(email, ip string) (user, error) {
	body, _ := json.Marshal(map[string]string{"name": "Bench User", "email": email, "password": "benchmark-password"})
	req, _ := http.NewRequest(http.MethodPost, e.ServeURL+"/v1/auth/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return user{}, err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"accessToken"`
		User        struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return user{}, fmt.Errorf("register: status %d", res.StatusCode)
	}
	return user{id: out.User.ID, token: out.AccessToken}, nil
}

// addresses draws n distinct IPv4 addresses in 198.<second>.0.0/16 (the benchmarking range
// of RFC 2544, outside every trusted-proxy range), at random so that runs within the same
// hour do not reuse each other's.
func addresses(n, second int) []string {
	seen := map[int]bool{}
	out := make([]string, 0, n)
	for len(out) < n && len(seen) < 65000 {
		v := rand.IntN(65536) //nolint:gosec // addresses, not secrets
		if seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, fmt.Sprintf("198.%d.%d.%d", second, v>>8, v&0xff))
	}
	return out
}
