// Package kernel holds the contracts every module implements and the registry that drives
// them. It knows no module by name: main.go lists the modules explicitly and hands them here.
package kernel

import (
	"context"
	"fmt"

	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"

	"github.com/axonhq/axon/platform/queue"
)

// Module is one business area (auth, agents, ingestion, channels, billing, email,
// analytics). Routes is called by serve; Workers by serve (so that job kinds inserted by the
// API are known) and by work.
type Module interface {
	Name() string
	Routes(v1 *echo.Group)
	Workers(w *river.Workers) error
}

// Scheduler is implemented by modules that own periodic jobs.
type Scheduler interface {
	PeriodicJobs() []*river.PeriodicJob
}

// Rescuer is implemented by modules whose jobs a customer waits on: their kinds are taken
// back soon after a worker dies instead of after River's 15-minute rescue (queue.Rescue,
// built with queue.RescueOf from the module's own workers).
type Rescuer interface {
	Rescues() []queue.Rescue
}

// Checker is implemented by modules that contribute a /health detail.
type Checker interface {
	Check(ctx context.Context) error
}

// RootRouter is implemented by modules that own routes outside /v1 (e.g. /admin).
type RootRouter interface {
	RootRoutes(e *echo.Echo)
}

// Registry holds the modules in the order main.go listed them.
type Registry struct {
	modules []Module
}

// NewRegistry checks that names are unique and non-empty.
func NewRegistry(mods ...Module) (*Registry, error) {
	seen := map[string]bool{}
	for _, m := range mods {
		if m == nil {
			return nil, fmt.Errorf("kernel: nil module")
		}
		n := m.Name()
		if n == "" || seen[n] {
			return nil, fmt.Errorf("kernel: module name %q empty or duplicated", n)
		}
		seen[n] = true
	}
	return &Registry{modules: mods}, nil
}

// Modules returns the modules in registration order.
func (r *Registry) Modules() []Module { return r.modules }

// MountRoutes lets every module register its routes.
func (r *Registry) MountRoutes(e *echo.Echo, v1 *echo.Group) {
	for _, m := range r.modules {
		m.Routes(v1)
		if rr, ok := m.(RootRouter); ok {
			rr.RootRoutes(e)
		}
	}
}

// Workers builds the River worker set from every module.
func (r *Registry) Workers() (*river.Workers, error) {
	w := river.NewWorkers()
	for _, m := range r.modules {
		if err := m.Workers(w); err != nil {
			return nil, fmt.Errorf("kernel: module %s workers: %w", m.Name(), err)
		}
	}
	return w, nil
}

// PeriodicJobs collects the periodic jobs of every Scheduler.
func (r *Registry) PeriodicJobs() []*river.PeriodicJob {
	var out []*river.PeriodicJob
	for _, m := range r.modules {
		if s, ok := m.(Scheduler); ok {
			out = append(out, s.PeriodicJobs()...)
		}
	}
	return out
}

// Rescues collects the declared rescues of every Rescuer.
func (r *Registry) Rescues() []queue.Rescue {
	var out []queue.Rescue
	for _, m := range r.modules {
		if s, ok := m.(Rescuer); ok {
			out = append(out, s.Rescues()...)
		}
	}
	return out
}

// Checkers returns the named health checkers of the modules.
func (r *Registry) Checkers() map[string]Checker {
	out := map[string]Checker{}
	for _, m := range r.modules {
		if c, ok := m.(Checker); ok {
			out[m.Name()] = c
		}
	}
	return out
}
