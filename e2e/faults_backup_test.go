//go:build faults

package e2e

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/axonhq/axon/platform/testkit/pgtest"
)

// bigDatabase is a new database with one table of rows random bytes, so that its dump
// (about 60 bytes a row) takes several 8 MiB parts of a multipart upload.
func bigDatabase(t *testing.T, rows int) string {
	t.Helper()
	url := pgtest.Fresh(t)
	d := faultDB(t, url)
	if _, err := d.Exec(`CREATE TABLE big AS SELECT g AS id,
		decode(md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex') AS b
		FROM generate_series(1, $1) g`, rows); err != nil {
		t.Fatal(err)
	}
	return url
}

// killingProxy forwards TCP connections to target and SIGKILLs victim once more than
// after bytes were sent through it (the gateway dies in the middle of an upload); then it
// refuses nothing but has nowhere to forward to, like a dead S3 endpoint behind a balancer.
type killingProxy struct {
	ln     net.Listener
	target string
	after  int64
	sent   atomic.Int64
	once   sync.Once
	killed chan struct{}
	victim func()
}

func startKillingProxy(t *testing.T, target string, after int64, victim func()) *killingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &killingProxy{ln: ln, target: target, after: after, victim: victim, killed: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *killingProxy) addr() string { return p.ln.Addr().String() }

func (p *killingProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(c, up); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			if p.sent.Add(int64(n)) > p.after {
				p.once.Do(func() { p.victim(); close(p.killed) })
			}
		}
		if err != nil {
			return
		}
	}
}

// TestFaultBackupS3Killed kills the S3 gateway in the middle of a backup's multipart
// upload. The backup must fail with a message and a non-zero exit, leave no dump listed
// (no object at all in the bucket once the gateway is back), and the next backup must
// succeed and restore every row.
func TestFaultBackupS3Killed(t *testing.T) {
	const rows = 500_000
	url := bigDatabase(t, rows)
	gw := startS3(t)
	proxy := startKillingProxy(t, gw.addr, 12<<20, func() { _ = gw.p.cmd.Process.Kill() })
	env := mergeEnv(gw.env(), map[string]string{"DATABASE_URL": url, "S3_ENDPOINT": "http://" + proxy.addr()})

	start := time.Now()
	r := axon(t, env, "backup")
	failedAfter := time.Since(start)
	select {
	case <-proxy.killed:
	default:
		t.Fatalf("the backup ended (exit %d) before the gateway was killed: %d bytes sent; make the database bigger\n%s", r.code, proxy.sent.Load(), r.stderr)
	}
	msg := lastLine(r.stderr)
	t.Logf("backup with the gateway killed after %d MB: exit %d after %.1f s: %s", proxy.sent.Load()>>20, r.code, failedAfter.Seconds(), msg)
	if r.code == 0 || !strings.Contains(r.stderr, "upload") {
		t.Fatalf("backup: exit %d, want a failure naming the upload\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// The gateway is back (same data, same address): nothing is listed.
	<-gw.p.done
	gw.start(t)
	back := time.Now()
	direct := mergeEnv(env, gw.env())
	l := axon(t, direct, "backup", "list")
	if l.code != 0 || !strings.Contains(l.stdout, "no backups") {
		t.Fatalf("list after the failed backup: exit %d\n%s\n%s", l.code, l.stdout, l.stderr)
	}
	// versitygw keeps the parts of unfinished multipart uploads under .sgwtmp: not objects,
	// never listed, but stored until the upload is aborted (the abort failed with the
	// gateway dead; a bucket lifecycle rule AbortIncompleteMultipartUpload removes them).
	var objects, parts []string
	for _, f := range dumpsIn(t, filepath.Join(gw.root, s3Bucket)) {
		if strings.HasPrefix(f, ".sgwtmp/") {
			parts = append(parts, f)
		} else {
			objects = append(objects, f)
		}
	}
	t.Logf("after the failed backup: %d objects, %d part(s) of unfinished multipart uploads", len(objects), len(parts))
	if len(objects) != 0 {
		t.Errorf("objects left in the bucket: %v", objects)
	}

	// The next backup succeeds and restores every row.
	r = axon(t, direct, "backup")
	if r.code != 0 {
		t.Fatalf("backup after the gateway is back: exit %d\n%s", r.code, r.stderr)
	}
	recovery := time.Since(back)
	l = axon(t, direct, "backup", "list")
	lines := strings.Split(strings.TrimSpace(l.stdout), "\n")
	if l.code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "axon-") || strings.Contains(lines[1], "no sidecar") {
		t.Fatalf("list after the second backup: exit %d\n%s", l.code, l.stdout)
	}
	name := strings.Fields(lines[1])[0]
	target := pgtest.Fresh(t)
	if rr := axon(t, direct, "backup", "restore", name, "--target-url", target); rr.code != 0 {
		t.Fatalf("restore: exit %d\n%s", rr.code, rr.stderr)
	}
	restored := dbCount(t, faultDB(t, target), `SELECT count(*) FROM big`)
	faultReport(t, "backup-s3-killed", rows, restored, rows-restored, max(0, restored-rows)+len(lines)-2, recovery)
}

// TestFaultBackupDiskFull backs up into a 16 MB tmpfs, too small for the dump (root only:
// it mounts the tmpfs). The backup must fail with the disk-full error, leave neither a dump
// nor a partial file, and a backup into a larger directory then succeeds.
func TestFaultBackupDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	const rows = 500_000
	url := bigDatabase(t, rows)
	env := map[string]string{"DATABASE_URL": url}

	r := axon(t, env, "backup", "--to", "file://"+dir)
	t.Logf("backup into a 16 MB tmpfs: exit %d: %s", r.code, lastLine(r.stderr))
	if r.code == 0 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("backup into a full disk: exit %d\n%s", r.code, r.stderr)
	}
	if left := dumpsIn(t, dir); len(left) != 0 {
		t.Errorf("files left in the backup directory: %v", left)
	}
	if l := axon(t, env, "backup", "list", "--from", "file://"+dir); l.code != 0 || !strings.Contains(l.stdout, "no backups") {
		t.Errorf("list after the failed backup: exit %d\n%s", l.code, l.stdout)
	}

	big := t.TempDir()
	start := time.Now()
	if r := axon(t, env, "backup", "--to", "file://"+big); r.code != 0 {
		t.Fatalf("backup into a large enough directory: exit %d\n%s", r.code, r.stderr)
	}
	recovery := time.Since(start)
	dumps := dumpsIn(t, big)
	if len(dumps) != 2 { // the dump and its sidecar
		t.Fatalf("backup directory holds %v", dumps)
	}
	target := pgtest.Fresh(t)
	var name string
	for _, f := range dumps {
		if strings.HasSuffix(f, ".dump") {
			name = f
		}
	}
	if rr := axon(t, env, "backup", "restore", "file://"+filepath.Join(big, name), "--target-url", target); rr.code != 0 {
		t.Fatalf("restore: exit %d\n%s", rr.code, rr.stderr)
	}
	restored := dbCount(t, faultDB(t, target), `SELECT count(*) FROM big`)
	faultReport(t, "backup-disk-full", rows, restored, rows-restored, max(0, restored-rows), recovery)
}

// dumpsIn lists the files under dir (recursively, hidden ones included).
func dumpsIn(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
