// Package cmdutil holds what both binaries share: kubeconfig loading, the
// health and metrics endpoints, and signal handling.
package cmdutil

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RestConfig loads a kubeconfig, or the in-cluster config when path is "".
func RestConfig(path, userAgent string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if path == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	}
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	return cfg, nil
}

// SignalContext ends on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Enabled reports whether an address flag turns a listener on: "" and "0"
// turn it off, so several agents can share one test host.
func Enabled(addr string) bool { return addr != "" && addr != "0" }

// Serve runs an HTTP server on addr until ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("http server", "addr", addr, "err", err)
		}
	}()
	return nil
}

// Probes answer the kubelet: Healthy for liveness (a restart would help),
// Ready for readiness (this pod does its job now).
type Probes struct {
	Healthy, Ready func() error
	// Metrics is the registry /metrics serves; nil serves the default one.
	Metrics prometheus.Gatherer
	// Profiling serves Go's profiles under /debug/pprof/ beside /metrics,
	// as Kubernetes components do with --profiling: off by default, since
	// a profile costs CPU while it runs and says much about the process.
	Profiling bool
}

// Endpoints starts /healthz and /readyz on healthAddr and /metrics on
// metricsAddr, each only when enabled. The probes are asked on every call.
func Endpoints(ctx context.Context, healthAddr, metricsAddr string, p Probes) error {
	if Enabled(healthAddr) {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", probe(p.Healthy))
		mux.HandleFunc("/readyz", probe(p.Ready))
		if err := Serve(ctx, healthAddr, mux); err != nil {
			return err
		}
	}
	if Enabled(metricsAddr) {
		mux := http.NewServeMux()
		h := promhttp.Handler()
		if p.Metrics != nil {
			h = promhttp.HandlerFor(p.Metrics, promhttp.HandlerOpts{})
		}
		mux.Handle("/metrics", h)
		if p.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		if err := Serve(ctx, metricsAddr, mux); err != nil {
			return err
		}
	}
	return nil
}

func probe(check func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if err := check(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}
}
