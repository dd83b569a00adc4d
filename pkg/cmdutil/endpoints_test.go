package cmdutil

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// get polls url until the server answers (it starts in a goroutine).
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	end := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(b)
		}
		if time.Now().After(end) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// /metrics serves the registry the binary passes, not the global one;
// /healthz and /readyz answer their own probe.
func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "harvnet_test_things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	health, metrics := freeAddr(t), freeAddr(t)
	notReady := errors.New("not converged: Uplink")
	if err := Endpoints(ctx, health, metrics, Probes{
		Healthy: func() error { return nil },
		Ready:   func() error { return notReady },
		Metrics: reg,
	}); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, "http://"+metrics+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "harvnet_test_things_total 3") || strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics %d:\n%s\nwant only the passed registry's counter at 3", code, body)
	}
	if code, _ := get(t, "http://"+health+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d, want 200", code)
	}
	if code, body := get(t, "http://"+health+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "Uplink") {
		t.Errorf("/readyz %d %q, want 503 saying why", code, body)
	}
}

// Go's profiles are served beside /metrics only with Profiling (the
// --profiling flag), never on the health address.
func TestProfilingOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		health, metrics := freeAddr(t), freeAddr(t)
		if err := Endpoints(ctx, health, metrics, Probes{Healthy: func() error { return nil }, Ready: func() error { return nil }, Metrics: prometheus.NewRegistry(), Profiling: on}); err != nil {
			t.Fatal(err)
		}
		code, body := get(t, "http://"+metrics+"/debug/pprof/")
		if served := code == http.StatusOK && strings.Contains(body, "goroutine"); served != on {
			t.Errorf("Profiling %v: /debug/pprof/ answered %d (served %v)", on, code, served)
		}
		if code, _ := get(t, "http://"+health+"/debug/pprof/"); code == http.StatusOK {
			t.Errorf("Profiling %v: the health address serves /debug/pprof/", on)
		}
		cancel()
	}
}
