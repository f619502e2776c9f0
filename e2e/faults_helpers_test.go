//go:build faults

package e2e

// Helpers of the fault suite (`make test-faults`, files faults_*_test.go, build tag
// faults): the one line every scenario prints, the private servers a scenario may stop
// (Postgres cluster, S3 gateway), a `work` process, and a WhatsApp channel with signed
// webhooks played by the fake platform.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // sqlx.Open("postgres", …)

	"github.com/axonhq/axon/platform/testkit"
	"github.com/axonhq/axon/platform/testkit/fakeplatforms"
	"github.com/axonhq/axon/platform/testkit/pgtest"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
)

// faultReport prints the scenario's line and fails on any loss or duplicate.
func faultReport(t testing.TB, name string, sent, stored, lost, duplicated int, recovery time.Duration) {
	t.Helper()
	t.Logf("FAULT %s: sent %d, stored %d, lost %d, duplicated %d, recovery %.1f s",
		name, sent, stored, lost, duplicated, recovery.Seconds())
	if lost != 0 || duplicated != 0 {
		t.Errorf("FAULT %s: lost %d, duplicated %d; both must be 0", name, lost, duplicated)
	}
}

// channelKey is CHANNEL_ENCRYPTION_KEY of every process of the suite (32 bytes, hex).
const channelKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// workProc starts `axon work` with env (a free PORT and info logs added) and waits for its
// "workers started" line.
func workProc(t testing.TB, env map[string]string) *proc {
	t.Helper()
	e := map[string]string{"PORT": strconv.Itoa(testkit.FreePort(t)), "LOG_LEVEL": "info"}
	for k, v := range env {
		e[k] = v
	}
	w := start(t, e, "work")
	eventually(t, "work: workers started", 30*time.Second, func() bool {
		select {
		case <-w.done:
			t.Fatalf("work exited %d:\n%s", w.cmd.ProcessState.ExitCode(), w.stderr.String())
		default:
		}
		return strings.Contains(w.stderr.String(), "workers started")
	})
	return w
}

// sigkill SIGKILLs p and waits for it to be gone.
func sigkill(t testing.TB, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// faultDB opens a small pool on url for the test's own checks.
func faultDB(t testing.TB, url string) *sqlx.DB {
	t.Helper()
	d, err := sqlx.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	d.SetMaxOpenConns(4)
	t.Cleanup(func() { d.Close() })
	return d
}

func dbCount(t testing.TB, d *sqlx.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := d.GetContext(context.Background(), &n, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// freshDB is a new, empty database on the test server, migrated by `axon migrate`: each
// scenario has its own, so no job of one is picked up by another's worker.
func freshDB(t testing.TB) string {
	t.Helper()
	url := pgtest.Fresh(t)
	if r := axon(t, map[string]string{"DATABASE_URL": url}, "migrate"); r.code != 0 {
		t.Fatalf("migrate: %d\n%s", r.code, r.stderr)
	}
	return url
}

// --- A private Postgres cluster the test may stop and start. ---

// privatePG is a throw-away cluster (initdb in a temporary directory, trust auth, its own
// port and socket directory), so stopping it disturbs no one else's tests. As root, the
// cluster runs as the postgres user (initdb refuses root).
type privatePG struct {
	dir, data string
	port      int
	asUser    string // "" to run the tools directly
	bindir    string
}

func startPrivatePG(t testing.TB) *privatePG {
	t.Helper()
	bindir := os.Getenv("PG_BINDIR")
	if bindir == "" {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(matches) == 0 {
			t.Fatal("no initdb: set PG_BINDIR to the directory of initdb and pg_ctl")
		}
		bindir = filepath.Dir(matches[len(matches)-1])
	}
	dir, err := os.MkdirTemp("", "axon-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePG{dir: dir, data: filepath.Join(dir, "data"), port: testkit.FreePort(t), bindir: bindir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and there is no postgres user to run the private cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asUser = "postgres"
	}
	t.Cleanup(func() {
		_ = p.ctl("stop", "-m", "immediate", "-w")
		os.RemoveAll(dir)
	})
	if out, err := p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := p.ctl("start"); err != nil {
		t.Fatal(err)
	}
	d := faultDB(t, p.url("postgres"))
	if _, err := d.Exec(`CREATE DATABASE axon`); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *privatePG) run(tool string, args ...string) ([]byte, error) {
	name, argv := filepath.Join(p.bindir, tool), args
	if p.asUser != "" {
		name, argv = "runuser", append([]string{"-u", p.asUser, "--", filepath.Join(p.bindir, tool)}, args...)
	}
	cmd := exec.Command(name, argv...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	return cmd.CombinedOutput()
}

// ctl runs pg_ctl start (waiting until it accepts connections) or stop.
func (p *privatePG) ctl(action string, args ...string) error {
	argv := []string{action, "-D", p.data, "-w", "-t", "30"}
	if action == "start" {
		argv = append(argv, "-l", filepath.Join(p.dir, "log"),
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", p.port, p.dir))
	}
	out, err := p.run("pg_ctl", append(argv, args...)...)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", action, err, out, log)
	}
	return nil
}

func (p *privatePG) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// --- A private S3 gateway (versitygw over a directory) the test may kill. ---

type s3gw struct {
	bin, root, sidecar, addr string
	p                        *proc
}

const (
	s3Access = "faultaccess"
	s3Secret = "faultsecret-0123456789"
	s3Bucket = "axon-fault-backups"
)

func startS3(t testing.TB) *s3gw {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("versitygw is not installed (run `make setup`)")
		}
	}
	dir := t.TempDir()
	g := &s3gw{
		bin: bin, root: filepath.Join(dir, "data"), sidecar: filepath.Join(dir, "meta"),
		addr: "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t)),
	}
	for _, d := range []string{filepath.Join(g.root, s3Bucket), g.sidecar} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	g.start(t)
	return g
}

func (g *s3gw) start(t testing.TB) {
	t.Helper()
	p := &proc{
		cmd: exec.Command(g.bin, "--access", s3Access, "--secret", s3Secret, "--region", "us-east-1",
			"--port", g.addr, "--quiet", "posix", "--sidecar", g.sidecar, g.root),
		stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan struct{}),
	}
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
	g.p = p
	eventually(t, "versitygw listening", 15*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", g.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// env is what `axon backup` needs to use the gateway.
func (g *s3gw) env() map[string]string {
	return map[string]string{
		"S3_BUCKET": s3Bucket, "S3_REGION": "us-east-1", "S3_ENDPOINT": "http://" + g.addr,
		"AWS_ACCESS_KEY_ID": s3Access, "AWS_SECRET_ACCESS_KEY": s3Secret,
	}
}

// --- WhatsApp through the fake platform. ---

// waSetup configures the workspace's WhatsApp channel with the fake's credentials, links
// an ACTIVE agent to it and returns the webhook path (/v1/webhooks/<slug>/whatsapp).
func waSetup(t testing.TB, base, access string, fake *fakeplatforms.Server) (agent, path string) {
	t.Helper()
	auth := map[string]string{"Authorization": "Bearer " + access}
	r := call(t, "POST", base+"/v1/agents", map[string]any{"name": "Fault helper", "systemPrompt": "Be brief."}, auth)
	agent, _ = r.body["id"].(string)
	if r.status != 201 || agent == "" {
		t.Fatalf("create agent: %d %s", r.status, r.raw)
	}
	if r := call(t, "PATCH", base+"/v1/agents/"+agent, map[string]any{"status": "ACTIVE"}, auth); r.status != 200 {
		t.Fatalf("activate agent: %d %s", r.status, r.raw)
	}
	r = call(t, "PUT", base+"/v1/channels/WHATSAPP", map[string]any{"isActive": true, "credentials": fake.ChannelCreds("WHATSAPP")}, auth)
	if r.status != 200 {
		t.Fatalf("PUT channel: %d %s", r.status, r.raw)
	}
	r = call(t, "PUT", base+"/v1/agents/"+agent+"/channels/WHATSAPP", map[string]any{"isActive": true}, auth)
	u, _ := r.body["webhookUrl"].(string)
	i := strings.Index(u, "/v1/webhooks/")
	if r.status != 200 || i < 0 {
		t.Fatalf("link channel: %d %s", r.status, r.raw)
	}
	return agent, u[i:]
}

// waMessage is a WhatsApp text message webhook from customer from with message id msgID.
func waMessage(msgID, from, text string) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{`+
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},`+
		`"contacts":[{"profile":{"name":"Fault %s"},"wa_id":%q}],`+
		`"messages":[{"from":%q,"id":%q,"timestamp":"1749416383","type":"text","text":{"body":%q}}]}}]}]}`,
		from, from, from, msgID, text)
}

// postWA delivers one signed webhook; it returns the status, or the transport error.
func postWA(c *http.Client, url string, body []byte, appSecret string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", fakeplatforms.SignMeta(body, appSecret))
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

// platformEnv points the channel senders at the fake platform.
func platformEnv(fake *fakeplatforms.Server) map[string]string {
	return map[string]string{"WHATSAPP_API_BASE": fake.GraphBase(), "CHANNEL_ENCRYPTION_KEY": channelKey}
}

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
