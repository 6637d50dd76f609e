package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

func TestDefaultRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		table string
		want  []string
	}{
		{"empty", "", nil},
		{"header only", routeHeader, nil},
		{"one default", routeHeader +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
			[]string{"eth0"}},
		{"by metric, ties in kernel order", routeHeader +
			"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
			"usb0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"wg0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n",
			[]string{"wg0", "eth0", "wlan0", "usb0"}},
		{"no default route", routeHeader +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n" +
			"eth0\t0000FEA9\t00000000\t0001\t0\t0\t1000\t0000FFFF\t0\t0\t0\n",
			nil},
		{"down, odd mask and junk skipped", routeHeader +
			"eth1\t00000000\t0101A8C0\t0002\t0\t0\t1\t00000000\t0\t0\t0\n" +
			"eth2\t00000000\t0101A8C0\t0003\t0\t0\t1\t000000FF\t0\t0\t0\n" +
			"eth3\t00000000\t0101A8C0\tzz\t0\t0\t1\t00000000\t0\t0\t0\n" +
			"eth4\t00000000\t0101A8C0\t0003\t0\t0\t-1\t00000000\t0\t0\t0\n" +
			"eth5\t00000000\n" +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n",
			[]string{"eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := defaultRoutes([]byte(tt.table))
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("defaultRoutes() (-got +want):\n%s", diff)
			}
		})
	}
}

func TestPublicHost(t *testing.T) {
	t.Parallel()
	up := net.FlagUp | net.FlagBroadcast
	lo := netInterface{name: "lo", flags: net.FlagUp | net.FlagLoopback, addrs: addrs("127.0.0.1", "::1")}
	twoDefaults := routeHeader +
		"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
		"eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
	tests := []struct {
		name   string
		routes string // "" means no /proc/net/route
		ifaces []netInterface
		ifErr  error
		want   string
	}{
		{
			name:   "lowest metric default route",
			routes: twoDefaults,
			ifaces: []netInterface{
				lo,
				{name: "wlan0", flags: up, addrs: addrs("192.168.1.30")},
				{name: "eth0", flags: up, addrs: addrs("fe80::1", "192.168.2.10", "192.168.2.11")},
			},
			want: "192.168.2.10",
		},
		{
			name:   "default interface without IPv4: next default route",
			routes: twoDefaults,
			ifaces: []netInterface{
				lo,
				{name: "eth0", flags: up, addrs: addrs("fe80::1", "2001:db8::5", "169.254.3.3")},
				{name: "wlan0", flags: up, addrs: addrs("192.168.1.30")},
			},
			want: "192.168.1.30",
		},
		{
			name:   "default interface down",
			routes: twoDefaults,
			ifaces: []netInterface{
				{name: "eth0", flags: net.FlagBroadcast, addrs: addrs("192.168.2.10")},
				{name: "wlan0", flags: up, addrs: addrs("192.168.1.30")},
			},
			want: "192.168.1.30",
		},
		{
			name: "no default route: first up non-loopback IPv4",
			routes: routeHeader +
				"eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n",
			ifaces: []netInterface{
				lo,
				{name: "docker0", flags: net.FlagBroadcast, addrs: addrs("172.17.0.1")},
				{name: "eth0", flags: up, addrs: addrs("::ffff:10.0.0.7")},
				{name: "wlan0", flags: up, addrs: addrs("10.0.0.8")},
			},
			want: "10.0.0.7",
		},
		{
			name:   "no routing table",
			ifaces: []netInterface{lo, {name: "en0", flags: up, addrs: addrs("10.1.2.3")}},
			want:   "10.1.2.3",
		},
		{
			name:   "default route over an interface that is gone",
			routes: twoDefaults,
			ifaces: []netInterface{lo, {name: "usb0", flags: up, addrs: addrs("10.9.9.9")}},
			want:   "10.9.9.9",
		},
		{
			name:   "only loopback",
			routes: twoDefaults,
			ifaces: []netInterface{lo},
			want:   "127.0.0.1",
		},
		{
			name:   "unspecified and unusable addresses never chosen",
			routes: twoDefaults,
			ifaces: []netInterface{
				{name: "eth0", flags: up, addrs: addrs("0.0.0.0", "255.255.255.255", "224.0.0.1", "169.254.1.1")},
				{name: "wlan0", flags: up, addrs: addrs("0.0.0.0", "::")},
				{name: "dummy", flags: up, addrs: addrs("0.0.0.0")},
			},
			want: "127.0.0.1",
		},
		{
			name:   "interfaces unreadable",
			routes: twoDefaults,
			ifErr:  errors.New("netlink: permission denied"),
			want:   "127.0.0.1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := loader{
				routeFile:  filepath.Join(dir, "route"),
				interfaces: func() ([]netInterface, error) { return tt.ifaces, tt.ifErr },
			}
			if tt.routes != "" {
				if err := os.WriteFile(l.routeFile, []byte(tt.routes), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got := l.publicHost()
			if got != tt.want {
				t.Errorf("publicHost() = %q, want %q", got, tt.want)
			}
			if err := checkPublicHost(got); err != nil {
				t.Errorf("publicHost() = %q, which Validate rejects: %v", got, err)
			}
		})
	}
}

// TestPublicHostZeroLoader: a loader with nothing to read still answers.
func TestPublicHostZeroLoader(t *testing.T) {
	t.Parallel()
	if got := (loader{}).publicHost(); got != "127.0.0.1" {
		t.Errorf("publicHost() = %q, want 127.0.0.1", got)
	}
}

// TestSystemInterfaces runs the real lookup: whatever this machine has, the
// answer is usable.
func TestSystemInterfaces(t *testing.T) {
	t.Parallel()
	if _, err := systemInterfaces(); err != nil {
		t.Skipf("no interfaces here: %v", err)
	}
	l := loader{routeFile: "/proc/net/route", interfaces: systemInterfaces}
	if err := checkPublicHost(l.publicHost()); err != nil {
		t.Errorf("publicHost() on this machine: %v", err)
	}
}
