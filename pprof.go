//go:build pprof

// This file is compiled only with `-tags pprof` (bench/authme -cpuprofile builds the binary
// that way): it serves net/http/pprof on AXON_PPROF_ADDR so a load run can profile the
// real server. Production binaries never contain it.

package main

import (
	"net/http"
	_ "net/http/pprof" //nolint:gosec // only in -tags pprof builds, on a loopback address
	"os"
	"time"
)

func init() { //nolint:gochecknoinits // a build-tagged profiling hook, not registration
	if addr := os.Getenv("AXON_PPROF_ADDR"); addr != "" {
		srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
	}
}
