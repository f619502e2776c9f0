// Command vulncheck runs govulncheck over the module and fails when our code calls a known
// vulnerability that allow.txt does not name with a reason.
//
// vuln.go.dev, govulncheck's default database, cannot be reached from every network this
// runs on (the build machines reach only the Go module proxy and the package mirrors), so
// the database is read from the OSV entries of golang.org/x/vulndb, the repository
// vuln.go.dev is generated from, fetched through the module proxy at its latest version
// (falling back to the newest copy in the module cache when the proxy cannot be reached).
// govulncheck reads a directory of OSV files given as `-db file://DIR` and indexes it in
// memory (its client's "hybrid" source), so nothing is built or written.
//
//	go run ./scripts/vulncheck            # what `make test` runs after golangci-lint
//	go run ./scripts/vulncheck -v         # also list every vulnerability found, called or not
//
// Exit status: 0 when every called vulnerability is allowed, 1 otherwise, 2 when the check
// could not run.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "list every vulnerability found, called or not")
	allowFile := flag.String("allow", "scripts/vulncheck/allow.txt", "allowed vulnerabilities: one `ID reason` per line")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	code, err := run(*allowFile, pkgs, *verbose, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulncheck:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(allowFile string, pkgs []string, verbose bool, out io.Writer) (int, error) {
	allow, err := readAllow(allowFile)
	if err != nil {
		return 0, err
	}
	src, version, err := vulndbSource()
	if err != nil {
		return 0, err
	}
	db := filepath.Join(src, "data", "osv")
	if _, err := os.Stat(filepath.Join(db, "GO-2020-0001.json")); err != nil {
		return 0, fmt.Errorf("golang.org/x/vulndb@%s holds no OSV entries in data/osv: %w", version, err)
	}
	bin, err := govulncheck()
	if err != nil {
		return 0, err
	}
	args := append([]string{"-db", "file://" + db, "-format", "json"}, pkgs...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", bin, err, stderr.String())
	}
	rep, err := parse(bytes.NewReader(stdout))
	if err != nil {
		return 0, err
	}
	return rep.judge(allow, version, verbose, out), nil
}

// vulndbSource returns the directory of golang.org/x/vulndb's module source and its version:
// the latest the module proxy serves, else the newest already in the module cache.
func vulndbSource() (dir, version string, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@latest")
	cmd.Dir = os.TempDir() // outside this module: nothing is added to go.mod
	if b, err := cmd.Output(); err == nil {
		var m struct{ Dir, Version string }
		if json.Unmarshal(b, &m) == nil && m.Dir != "" {
			return m.Dir, m.Version, nil
		}
	}
	b, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	found, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(b)), "golang.org", "x", "vulndb@*"))
	if len(found) == 0 {
		return "", "", errors.New("golang.org/x/vulndb could not be downloaded and is not in the module cache")
	}
	sort.Strings(found) // pseudo-versions sort by their timestamp
	dir = found[len(found)-1]
	_, version, _ = strings.Cut(filepath.Base(dir), "@")
	fmt.Fprintf(os.Stderr, "vulncheck: the module proxy did not answer; using the cached golang.org/x/vulndb@%s\n", version)
	return dir, version, nil
}

// govulncheck finds the binary scripts/test-tools.sh installs: PATH, then GOBIN or GOPATH/bin.
func govulncheck() (string, error) {
	if p, err := exec.LookPath("govulncheck"); err == nil {
		return p, nil
	}
	for _, v := range []string{"GOBIN", "GOPATH"} {
		b, err := exec.Command("go", "env", v).Output()
		dir := strings.TrimSpace(string(b))
		if err != nil || dir == "" {
			continue
		}
		if v == "GOPATH" {
			dir = filepath.Join(strings.Split(dir, string(os.PathListSeparator))[0], "bin")
		}
		if p := filepath.Join(dir, "govulncheck"); isFile(p) {
			return p, nil
		}
	}
	return "", errors.New("govulncheck not found: run scripts/test-tools.sh")
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// readAllow reads `ID reason…` lines; blank lines and # comments are skipped. An entry
// without a reason is an error: every exception says why it is safe.
func readAllow(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	allow := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason", path, n, id)
		}
		allow[id] = strings.TrimSpace(reason)
	}
	return allow, sc.Err()
}
