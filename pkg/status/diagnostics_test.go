package status

import (
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/doctor"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// The doctor's findings go into status sorted, with their count, and the
// same host builds an equal status (no write on an unchanged host).
func TestBuildDiagnostics(t *testing.T) {
	h := host()
	one := 1
	h.BridgeNFCallIPTables = &one
	h.Links[2].MTU = 1400 // br0 below its uplink eth0
	h.Doctor = &hoststate.Doctor{Sysctls: map[string]string{hoststate.SysctlIPForward: "0", hoststate.SysctlIPv6Forward: "1"}}
	st := Build(result(steady, h, nil), opts, 1)
	var got []string
	for _, d := range st.Diagnostics {
		got = append(got, d.Check+"/"+d.Subject)
	}
	want := []string{doctor.CheckBridgeMTU + "/br0", doctor.CheckBridgeNFCallIPTables + "/", doctor.CheckIPForward + "/ipv4"}
	if len(got) != len(want) || st.DiagnosticCount != len(want) {
		t.Fatalf("got %v (count %d), want %v", got, st.DiagnosticCount, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	again := Build(result(steady, h, nil), opts, 1)
	if !Equal(&st, &again) {
		t.Error("the same host built a different status")
	}

	h.Links[2].MTU = 1500
	fixed := Build(result(steady, h, nil), opts, 1)
	if Equal(&st, &fixed) || fixed.DiagnosticCount != 2 {
		t.Errorf("a fixed diagnostic did not change status: %+v", fixed.Diagnostics)
	}
}

func TestBuildDiagnosticsHealthyAndUnread(t *testing.T) {
	if st := Build(result(steady, host(), nil), opts, 1); st.Diagnostics != nil || st.DiagnosticCount != 0 {
		t.Errorf("healthy host: %+v", st.Diagnostics)
	}
	res := result(steady, host(), nil)
	res.Host = nil
	if d := Diagnostics(res, opts); d != nil {
		t.Errorf("unread host: %v", d)
	}
}

// The NADs' MTUs and spec.network.mtu reach the doctor: a NAD above the
// uplink's MTU is flagged by name until spec.network.mtu covers it.
func TestBuildDiagnosticsNADMTU(t *testing.T) {
	res := result(steady, host(), nil)
	res.Input.NADMTUs = []desired.NADMTU{{NAD: "vms/jumbo", MTU: 9000}, {NAD: "vms/plain", MTU: 1500}}
	st := Build(res, opts, 1)
	if len(st.Diagnostics) != 1 || st.Diagnostics[0].Check != doctor.CheckNADMTU || st.Diagnostics[0].Subject != "vms/jumbo" {
		t.Fatalf("diagnostics %+v, want NADMTU for vms/jumbo only", st.Diagnostics)
	}
	res.Input.Spec.Network.MTU = 9000
	if st := Build(res, opts, 1); len(st.Diagnostics) != 0 {
		t.Errorf("spec.network.mtu 9000 still flags: %+v", st.Diagnostics)
	}
}
