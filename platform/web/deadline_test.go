package web_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/axonhq/axon/platform/observe"
	"github.com/axonhq/axon/platform/testkit/syncbuf"
	"github.com/axonhq/axon/platform/web"
)

// startServer runs web.New's own http.Server (with its timeouts) on a loopback port.
func startServer(t *testing.T, to web.Timeouts, routes func(e *echo.Echo)) string {
	t.Helper()
	e := web.New(web.Options{Logger: observe.NewLogger(&syncbuf.Buffer{}, observe.LogOptions{}), Timeouts: to})
	routes(e)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Listener = ln
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.Start("")
	}()
	t.Cleanup(func() {
		_ = e.Close()
		<-done
	})
	return ln.Addr().String()
}

// waitGoroutines polls until at most n goroutines run, failing after deadline.
func waitGoroutines(t *testing.T, n int, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		got := runtime.NumGoroutine()
		if got <= n {
			return
		}
		if time.Now().After(end) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines still running, baseline %d:\n%s", got, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A slowloris client (a request whose headers never end, dribbled a line at a time) is cut
// off at the header timeout, and neither its connection nor a goroutine outlives it.
func TestSlowlorisDisconnectedAtHeaderTimeout(t *testing.T) {
	addr := startServer(t, web.Timeouts{ReadHeader: 300 * time.Millisecond}, func(e *echo.Echo) {
		e.GET("/v1/ok", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	})
	baseline := runtime.NumGoroutine()

	const clients = 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		stop := make(chan struct{})
		go func() { // the dribbler: one more header line every 50 ms, for ever
			defer wg.Done()
			if _, err := fmt.Fprintf(conn, "GET /v1/ok HTTP/1.1\r\nHost: x\r\n"); err != nil {
				return
			}
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", n); err != nil {
					return
				}
			}
		}()
		go func() { // the reader: the server must close the connection
			defer wg.Done()
			defer close(stop)
			defer conn.Close()
			// A generous bound, far above the 300 ms header timeout: reaching it means the
			// server kept the connection (the default ReadTimeout alone would be 30 s).
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				errs <- fmt.Errorf("connection still open after 10 s")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitGoroutines(t, baseline, 10*time.Second)

	// The server still serves well-behaved clients.
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := cl.Get("http://" + addr + "/v1/ok")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("after slowloris: %d", res.StatusCode)
	}
}

// dripPut sends a 10-byte body one byte every 100 ms and returns the response status, or 0
// when the server hung up before answering.
func dripPut(t *testing.T, addr, path string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n", path)
	for i := 0; i < 10; i++ {
		time.Sleep(100 * time.Millisecond)
		if _, err := conn.Write([]byte("a")); err != nil {
			break
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// The upload route gets its own read deadline: a body that takes longer than the server's
// ReadTimeout still arrives there, while any other route is cut off.
func TestUploadRouteOutlivesReadTimeout(t *testing.T) {
	readAll := func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	}
	addr := startServer(t, web.Timeouts{ReadHeader: time.Second, Read: 300 * time.Millisecond}, func(e *echo.Echo) {
		e.PUT("/v1/storage/local/*", readAll)
		e.PUT("/v1/other", readAll)
		e.PUT("/v1/stream", readAll, web.Deadline(5*time.Second, 0))
	})
	if st := dripPut(t, addr, "/v1/storage/local/ws/file.pdf"); st != http.StatusOK {
		t.Errorf("upload route: %d, want 200", st)
	}
	if st := dripPut(t, addr, "/v1/stream"); st != http.StatusOK {
		t.Errorf("route with web.Deadline: %d, want 200", st)
	}
	if st := dripPut(t, addr, "/v1/other"); st == http.StatusOK {
		t.Errorf("other route accepted a body slower than ReadTimeout")
	}
}
