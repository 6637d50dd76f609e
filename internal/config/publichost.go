package config

import (
	"bufio"
	"bytes"
	"cmp"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// netInterface is what public host detection needs to know of a network
// interface.
type netInterface struct {
	name  string
	flags net.Flags
	addrs []netip.Addr
}

// systemInterfaces lists this machine's interfaces. An interface whose
// addresses cannot be read is listed without any.
func systemInterfaces() ([]netInterface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]netInterface, 0, len(ifs))
	for _, ifi := range ifs {
		ni := netInterface{name: ifi.Name, flags: ifi.Flags}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			var ip net.IP
			switch a := a.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			if na, ok := netip.AddrFromSlice(ip); ok {
				ni.addrs = append(ni.addrs, na.Unmap())
			}
		}
		out = append(out, ni)
	}
	return out, nil
}

// publicHost guesses the address other devices on the LAN reach this one at,
// without sending a packet: the IPv4 address of the interface that carries
// the default route (lowest metric first), else the first IPv4 address of any
// interface that is up and not loopback, else 127.0.0.1. It never returns the
// unspecified address.
func (l loader) publicHost() string {
	var ifaces []netInterface
	if l.interfaces != nil {
		ifaces, _ = l.interfaces() // no interfaces: fall through to 127.0.0.1
	}
	var routes []byte
	if l.routeFile != "" {
		routes, _ = os.ReadFile(l.routeFile) // not Linux, or no /proc: fall back
	}
	for _, name := range defaultRoutes(routes) {
		for _, ifi := range ifaces {
			if ifi.name != name || ifi.flags&net.FlagUp == 0 {
				continue
			}
			if a, ok := lanIPv4(ifi.addrs); ok {
				return a.String()
			}
		}
	}
	for _, ifi := range ifaces {
		if ifi.flags&net.FlagUp == 0 || ifi.flags&net.FlagLoopback != 0 {
			continue
		}
		if a, ok := lanIPv4(ifi.addrs); ok {
			return a.String()
		}
	}
	return "127.0.0.1"
}

// lanIPv4 returns the first IPv4 address another device could connect to:
// not loopback, link-local, multicast, broadcast or unspecified. Private
// ranges count: they are the point.
func lanIPv4(addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() && a.IsGlobalUnicast() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// rtfUp is RTF_UP in /proc/net/route's Flags column.
const rtfUp = 0x1

// defaultRoutes parses /proc/net/route and returns the interfaces of the
// default routes that are up (Destination and Mask 00000000), lowest metric
// first; routes of equal metric keep the kernel's order. Lines that do not
// parse are skipped.
//
//	Iface	Destination	Gateway	Flags	RefCnt	Use	Metric	Mask	MTU	Window	IRTT
//	eth0	00000000	0102A8C0	0003	0	0	100	00000000	0	0	0
func defaultRoutes(table []byte) []string {
	type route struct {
		iface  string
		metric uint64
	}
	var routes []route
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&rtfUp == 0 {
			continue
		}
		metric, err := strconv.ParseUint(f[6], 10, 32)
		if err != nil {
			continue
		}
		routes = append(routes, route{f[0], metric})
	}
	slices.SortStableFunc(routes, func(a, b route) int { return cmp.Compare(a.metric, b.metric) })
	names := make([]string, len(routes))
	for i, r := range routes {
		names[i] = r.iface
	}
	return names
}
