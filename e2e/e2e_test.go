// Package e2e runs the real axon binary against real Postgres and a private Redis, the way a
// new user (and a deployment) would: migrate from two processes at once, rollback-resolve,
// two serve replicas sharing one rate limit, Redis going away and coming back, the whole
// auth flow, and a clean SIGTERM.
package e2e

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/axonhq/axon/db"
	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// bin is the axon binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "axon-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "axon")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".." // the repository root
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building axon:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// jwtSecret is the secret of every process here; it must never appear in their output.
const jwtSecret = "e2e-JWT-SECRET-value-0123456789-abcdefghij"

// environ is the whole environment of a child process: nothing is inherited except PATH and
// HOME, so a developer's REDIS_URL or DATABASE_URL cannot leak in.
func environ(kv map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	base := map[string]string{"APP_ENV": "test", "BCRYPT_COST": "4", "JWT_SECRET": jwtSecret, "LOG_FORMAT": "json"}
	for k, v := range kv {
		base[k] = v
	}
	for k, v := range base {
		env = append(env, k+"="+v)
	}
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

// axon runs one short-lived command to completion.
func axon(t testing.TB, env map[string]string, args ...string) result {
	t.Helper()
	return wait(t, start(t, env, args...))
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncbuf.Buffer
	done           chan struct{}
}

func start(t testing.TB, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = environ(env)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func wait(t testing.TB, p *proc) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%v did not finish within 60 s\nstderr:\n%s", p.cmd.Args, p.stderr.String())
	}
	return result{stdout: p.stdout.String(), stderr: p.stderr.String(), code: p.cmd.ProcessState.ExitCode()}
}

// latestMigration is the newest embedded migration's version and file name, and how many
// migrations there are.
func latestMigration(t testing.TB) (int64, string, int) {
	t.Helper()
	entries, err := fs.ReadDir(db.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	name := entries[len(entries)-1].Name()
	v, err := strconv.ParseInt(strings.SplitN(name, "_", 2)[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v, name, len(entries)
}

func TestHelpListsRoles(t *testing.T) {
	r := axon(t, nil, "--help")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, role := range []string{"serve", "work", "migrate", "rollback-resolve", "dev"} {
		if !strings.Contains(r.stdout, "\n  "+role+" ") {
			t.Errorf("--help does not list %s:\n%s", role, r.stdout)
		}
	}
	r = axon(t, map[string]string{"PORT": "not-a-port"}, "migrate", "status")
	if r.code == 0 || !strings.Contains(r.stderr, "PORT") || !strings.Contains(r.stderr, "integer from 1 to 65535") {
		t.Errorf("bad PORT: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConcurrentMigrateThenRollbackResolve(t *testing.T) {
	t.Parallel()
	url := pgtest.Fresh(t)
	env := map[string]string{"DATABASE_URL": url}
	a, b := start(t, env, "migrate"), start(t, env, "migrate")
	ra, rb := wait(t, a), wait(t, b)
	for i, r := range []result{ra, rb} {
		if r.code != 0 {
			t.Fatalf("migrate %d exited %d\nstdout:\n%s\nstderr:\n%s", i, r.code, r.stdout, r.stderr)
		}
	}
	if n := strings.Count(ra.stdout+rb.stdout, "up 00001_platform_extensions.sql"); n != 1 {
		t.Errorf("00001 applied %d times:\n%s\n---\n%s", n, ra.stdout, rb.stdout)
	}
	conn, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	top, topName, total := latestMigration(t)
	var rows, distinct int
	if err := conn.QueryRow(`SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != total || distinct != total {
		t.Fatalf("goose_db_version has %d rows (%d distinct), want one per migration (%d)", rows, distinct, total)
	}

	r := axon(t, env, "rollback-resolve", strconv.FormatInt(top, 10))
	if r.code != 0 || !strings.Contains(r.stdout, "marked "+topName+" as not applied") {
		t.Fatalf("rollback-resolve: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var still int
	if err := conn.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id = $1`, top).Scan(&still); err != nil || still != 0 {
		t.Fatalf("version %d rows after rollback-resolve: %d (%v)", top, still, err)
	}
	r = axon(t, env, "rollback-resolve", strconv.FormatInt(top, 10))
	if r.code != 0 || !strings.Contains(r.stdout, "nothing changed") {
		t.Fatalf("second rollback-resolve: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = axon(t, env, "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, topName) || !strings.Contains(r.stdout, "pending") {
		t.Errorf("status after rollback-resolve: exit %d\n%s", r.code, r.stdout)
	}
	r = axon(t, env, "rollback-resolve", "99999")
	if r.code == 0 || !strings.Contains(r.stderr, "no migration with version 99999") {
		t.Errorf("unknown version: exit %d, stderr %q", r.code, r.stderr)
	}
}

// redis is a private redis-server on its own port, so stopping it affects only this test.
type redis struct {
	port int
	p    *proc
}

func startRedis(t testing.TB, port int) *redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (run `make setup`)")
	}
	p := &proc{
		cmd: exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no"),
		stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	r := &redis{port: port, p: p}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 16)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "+PONG") {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("private redis on %d not ready: %v\n%s", port, err, p.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *redis) stop() {
	select {
	case <-r.p.done:
	default:
		_ = r.p.cmd.Process.Kill()
		<-r.p.done
	}
}

func (r *redis) url() string { return "redis://127.0.0.1:" + strconv.Itoa(r.port) + "/0" }

type server struct {
	*proc
	base string
}

// serve starts `axon serve` and waits until /health answers.
func serve(t testing.TB, env map[string]string) *server {
	t.Helper()
	port := testkit.FreePort(t)
	e := map[string]string{"PORT": strconv.Itoa(port), "LOG_LEVEL": "debug"}
	for k, v := range env {
		e[k] = v
	}
	s := &server{proc: start(t, e, "serve"), base: "http://127.0.0.1:" + strconv.Itoa(port)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if res, err := http.Get(s.base + "/health"); err == nil {
			res.Body.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited with %d:\n%s", s.cmd.ProcessState.ExitCode(), s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not listening within 20 s:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// terminate sends SIGTERM and expects exit 0 within a few seconds.
func (s *server) terminate(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit within 10 s of SIGTERM:\n%s", s.stderr.String())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM:\n%s", code, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), `"msg":"shutting down"`) {
		t.Errorf("no shutdown log line")
	}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t testing.TB, method, url string, body any, header map[string]string, cookies ...*http.Cookie) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string: // sent as is (malformed JSON tests)
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (r response) expectError(t testing.TB, status int, code string) {
	t.Helper()
	testkit.ExpectError(t, r.status, r.header, []byte(r.raw), status, code)
}

func refreshCookie(t testing.TB, h http.Header) *http.Cookie {
	t.Helper()
	c := testkit.Cookie(t, h, "refresh_token")
	if c.Value == "" || !c.HttpOnly || c.Path != "/v1/auth" || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("refresh cookie attributes: %+v", c)
	}
	return c
}

type account struct {
	email, password, access string
	refresh                 *http.Cookie
}

func register(t testing.TB, base string) account {
	t.Helper()
	a := account{email: "e2e-" + uuid.NewString()[:8] + "@example.com", password: "pw-" + uuid.NewString()}
	r := call(t, "POST", base+"/v1/auth/register", map[string]string{"name": "Ada E2E", "email": a.email, "password": a.password}, nil)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	a.access, _ = r.body["accessToken"].(string)
	if a.access == "" {
		t.Fatalf("register returned no access token: %s", r.raw)
	}
	a.refresh = refreshCookie(t, r.header)
	return a
}

// health reads /health.
func health(t testing.TB, base string) (int, map[string]any) {
	t.Helper()
	r := call(t, "GET", base+"/health", nil, nil)
	return r.status, r.body
}

func eventually(t testing.TB, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// assertNoSecrets checks that no credential used in the test reached a process's output.
func assertNoSecrets(t testing.TB, output string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, jwtSecret) {
		if s != "" && strings.Contains(output, s) {
			t.Errorf("a secret (%.12s…) appears in the serve output", s)
		}
	}
}

// TestTwoServersSharedLimitAndRedisOutage is the deployment scenario: two replicas on one
// database and one Redis.
func TestTwoServersSharedLimitAndRedisOutage(t *testing.T) {
	t.Parallel()
	rd := startRedis(t, testkit.FreePort(t))
	env := map[string]string{"DATABASE_URL": pgtest.URL(t), "REDIS_URL": rd.url()}
	if r := axon(t, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
	}
	s1, s2 := serve(t, env), serve(t, env)
	servers := []*server{s1, s2}
	for _, s := range servers {
		st, b := health(t, s.base)
		checks, _ := b["checks"].(map[string]any)
		if st != 200 || b["status"] != "ok" || checks["redis"] != "ok" || checks["db"] != "ok" {
			t.Fatalf("health: %d %v", st, b)
		}
	}

	acct := register(t, s1.base)
	wrong := "wrong-" + uuid.NewString()
	for i := 0; i < 10; i++ {
		r := call(t, "POST", servers[i%2].base+"/v1/auth/login", map[string]string{"email": acct.email, "password": wrong}, nil)
		r.expectError(t, 401, "INVALID_CREDENTIALS")
	}
	for _, s := range servers {
		r := call(t, "POST", s.base+"/v1/auth/login", map[string]string{"email": acct.email, "password": acct.password}, nil)
		r.expectError(t, 429, "RATE_LIMITED")
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 15*60 {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Limit") != "10" {
			t.Errorf("RateLimit headers on 429: %v", r.header)
		}
	}

	// Redis goes away: /health degrades, the API keeps answering.
	rd.stop()
	eventually(t, "health 503 while Redis is down", 5*time.Second, func() bool {
		st, b := health(t, s1.base)
		checks, _ := b["checks"].(map[string]any)
		return st == 503 && b["status"] == "degraded" && checks["redis"] == "error" && checks["db"] == "ok"
	})
	for _, s := range servers {
		r := call(t, "GET", s.base+"/v1/auth/me", nil, map[string]string{"Authorization": "Bearer " + acct.access})
		if r.status != 200 {
			t.Fatalf("GET /v1/auth/me while Redis is down: %d %s", r.status, r.raw)
		}
		if user, _ := r.body["user"].(map[string]any); user["email"] != acct.email {
			t.Fatalf("me = %s", r.raw)
		}
	}

	// Redis comes back on the same port: /health recovers without a restart.
	startRedis(t, rd.port)
	for _, s := range servers {
		eventually(t, "health 200 after Redis is back", 10*time.Second, func() bool {
			st, b := health(t, s.base)
			return st == 200 && b["status"] == "ok"
		})
	}
	if r := call(t, "GET", s2.base+"/v1/auth/me", nil, map[string]string{"Authorization": "Bearer " + acct.access}); r.status != 200 {
		t.Fatalf("me after recovery: %d", r.status)
	}

	for _, s := range servers {
		s.terminate(t)
		assertNoSecrets(t, s.stderr.String()+s.stdout.String(), acct.password, wrong, acct.access, acct.refresh.Value)
	}
}

// TestAuthFlowThroughBinary runs register → me → refresh → reuse detection against one
// replica without REDIS_URL (in-process limiter, redis "disabled").
func TestAuthFlowThroughBinary(t *testing.T) {
	t.Parallel()
	s := serve(t, map[string]string{"DATABASE_URL": pgtest.URL(t)})
	st, b := health(t, s.base)
	if checks, _ := b["checks"].(map[string]any); st != 200 || checks["redis"] != "disabled" {
		t.Fatalf("health without Redis: %d %v", st, b)
	}

	acct := register(t, s.base)
	auth := map[string]string{"Authorization": "Bearer " + acct.access}
	r := call(t, "GET", s.base+"/v1/auth/me", nil, auth)
	if user, _ := r.body["user"].(map[string]any); r.status != 200 || user["email"] != acct.email {
		t.Fatalf("me: %d %s", r.status, r.raw)
	}
	if ws, _ := r.body["workspaces"].([]any); len(ws) != 1 {
		t.Fatalf("me workspaces: %s", r.raw)
	}
	call(t, "GET", s.base+"/v1/auth/me", nil, nil).expectError(t, 401, "MISSING_TOKEN")
	call(t, "GET", s.base+"/v1/auth/me", nil, map[string]string{"Authorization": "Bearer " + acct.access + "x"}).expectError(t, 401, "INVALID_TOKEN")

	// Login with the right password works.
	r = call(t, "POST", s.base+"/v1/auth/login", map[string]string{"email": acct.email, "password": acct.password}, nil)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	loginAccess, _ := r.body["accessToken"].(string)
	loginRefresh := refreshCookie(t, r.header)

	// Refresh with the cookie rotates it.
	r = call(t, "POST", s.base+"/v1/auth/refresh", nil, nil, acct.refresh)
	if r.status != 200 || r.body["accessToken"] == "" || r.body["refreshToken"] != nil {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	newAccess, _ := r.body["accessToken"].(string)
	rotated := refreshCookie(t, r.header)
	if rotated.Value == acct.refresh.Value {
		t.Fatal("refresh did not rotate the token")
	}
	if r := call(t, "GET", s.base+"/v1/auth/me", nil, map[string]string{"Authorization": "Bearer " + newAccess}); r.status != 200 {
		t.Fatalf("me with the refreshed access token: %d", r.status)
	}

	// Reusing the old refresh token is detected and revokes the whole family.
	call(t, "POST", s.base+"/v1/auth/refresh", nil, nil, acct.refresh).expectError(t, 401, "INVALID_TOKEN")
	call(t, "POST", s.base+"/v1/auth/refresh", nil, nil, rotated).expectError(t, 401, "INVALID_TOKEN")
	// The login session is another family and still works.
	r = call(t, "POST", s.base+"/v1/auth/refresh", nil, nil, loginRefresh)
	if r.status != 200 {
		t.Fatalf("refresh of an unrelated family: %d %s", r.status, r.raw)
	}

	// Bad input gets a 4xx in the contract shape.
	call(t, "POST", s.base+"/v1/auth/login", `{"email":`, nil).expectError(t, 400, "VALIDATION_ERROR")
	call(t, "POST", s.base+"/v1/auth/refresh", nil, nil, &http.Cookie{Name: "refresh_token", Value: "forged"}).expectError(t, 401, "INVALID_TOKEN")

	s.terminate(t)
	assertNoSecrets(t, s.stderr.String()+s.stdout.String(), acct.password, acct.access, acct.refresh.Value,
		rotated.Value, newAccess, loginAccess, loginRefresh.Value)
}
