package relay

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The hosts the page sends a phone on to: one list of the forms it
// accepts, the same as index.html's localHost. An address must be written
// as the page wants it: IPv4 as a dotted quad without leading zeros, IPv6
// in brackets, lowercase and compressed as a browser's URL parser writes it.
var (
	homeNetworks = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("fc00::/7"),
	}
	// homeNames are names of lowercase LDH labels: the name itself, or
	// with "*." any name under it.
	homeNames = []string{"localhost", "*.localhost", "*.local", "*.home.arpa"}
)

// Compiled on first use, by a relay login: every process links this
// package, and name's bounded repetitions compile to a third of a
// megabyte that the daemon would otherwise hold from its start, relay or
// not, and every CLI command would build.
var (
	// target is the one form of a device callback URL the page takes:
	// what the daemon writes into the state.
	target = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(https?)://([a-z0-9.-]+|\[[0-9a-f:]+\])(?::([1-9][0-9]{0,4}))?/auth/callback/([A-Za-z0-9._-]{1,257})$`)
	})
	name = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	})
)

// Accepts reports whether the relay page sends a phone on to rawURL, a
// device's callback URL as the daemon puts it into a relay login's state.
// It is the page's rule: a login whose URL it refuses ends on the page's
// "This link cannot be used". Safe for concurrent use.
func Accepts(rawURL string) bool {
	m := target().FindStringSubmatch(rawURL)
	if m == nil {
		return false
	}
	host, port, id := m[2], m[3], m[4]
	if !strings.Contains(id, "_") || id[0] == '.' {
		return false
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n > 65535 {
			return false
		}
	}
	return homeHost(host)
}

// homeHost reports whether host, as a URL writes it, is on the home
// network or this machine, in the one spelling the page accepts.
func homeHost(host string) bool {
	if inner, ok := strings.CutPrefix(host, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		a, err := netip.ParseAddr(inner)
		// The page compares with what the browser's URL parser writes:
		// RFC 5952's compressed form, as netip writes it.
		if !ok || err != nil || !a.Is6() || a.Is4In6() || a.String() != inner {
			return false
		}
		return inHomeNetwork(a)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Is4() && inHomeNetwork(a)
	}
	if len(host) > 253 || !name().MatchString(host) {
		return false
	}
	for _, n := range homeNames {
		if suffix, ok := strings.CutPrefix(n, "*"); ok {
			if strings.HasSuffix(host, suffix) {
				return true
			}
		} else if host == n {
			return true
		}
	}
	return false
}

func inHomeNetwork(a netip.Addr) bool {
	for _, p := range homeNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
