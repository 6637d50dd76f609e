package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p % of the values
// are at or below. It is 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// row is one line of the table: one request kind at one concurrency.
type row struct {
	Kind        string  `json:"kind"`
	C           int     `json:"c"`
	N           int     `json:"n"`           // requests sent (frames, for unhandled)
	P50         float64 `json:"p50_ms"`      // of the replies received
	P90         float64 `json:"p90_ms"`      //
	P99         float64 `json:"p99_ms"`      //
	Max         float64 `json:"max_ms"`      //
	PerSecond   float64 `json:"req_per_s"`   // replies received per second of the run
	Lost        int     `json:"lost"`        // no reply within the timeout
	Errors      int     `json:"errors"`      // replies with an error field
	Ratio       float64 `json:"ratio_p50"`   // p50 / the echo floor's p50 at the same c; 0 if unknown
	CPUPer1000  float64 `json:"cpu_ms_1000"` // the daemon's utime+stime per 1,000 requests, ms; -1 without -pid
	RSS         float64 `json:"rss_mb"`      // the daemon's VmRSS after the run, MB; -1 without -pid
	latencyKnow bool    // p50..max are meaningful (not for unhandled)
}

// summarize fills the latency and throughput columns of r from the
// latencies of the replies received in elapsed.
func (r *row) summarize(lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50, r.P90, r.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		r.Max = ms(lat[len(lat)-1])
	}
	if elapsed > 0 {
		r.PerSecond = float64(len(lat)) / elapsed.Seconds()
	}
	r.latencyKnow = true
}

// setProc fills the CPU and RSS columns from samples before and after.
func (r *row) setProc(before, after procSample, ok bool) {
	r.CPUPer1000, r.RSS = -1, -1
	if !ok {
		return
	}
	if r.N > 0 {
		r.CPUPer1000 = float64(after.CPU-before.CPU) / float64(time.Millisecond) * 1000 / float64(r.N)
	}
	r.RSS = float64(after.RSS) / (1 << 20)
}

// setRatios fills Ratio for each row from the echo row of its concurrency.
func setRatios(rows []row) {
	floor := map[int]float64{}
	for _, r := range rows {
		if r.Kind == kindEcho && r.P50 > 0 {
			floor[r.C] = r.P50
		}
	}
	for i := range rows {
		if f, ok := floor[rows[i].C]; ok && rows[i].latencyKnow && rows[i].P50 > 0 {
			rows[i].Ratio = rows[i].P50 / f
		}
	}
}

// writeTable prints rows as one aligned table.
func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tc\tn\tp50 ms\tp90 ms\tp99 ms\tmax ms\treq/s\tlost\terrors\tp50/floor\tCPU ms/1000\tRSS MB\t")
	for _, r := range rows {
		lat := func(v float64) string {
			if !r.latencyKnow {
				return "-"
			}
			return strconv.FormatFloat(v, 'f', 2, 64)
		}
		ratio := "-"
		if r.Ratio > 0 {
			ratio = strconv.FormatFloat(r.Ratio, 'f', 2, 64) + "x"
		}
		opt := func(v float64, prec int) string {
			if v < 0 {
				return "-"
			}
			return strconv.FormatFloat(v, 'f', prec, 64)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.0f\t%d\t%d\t%s\t%s\t%s\t\n",
			r.Kind, r.C, r.N, lat(r.P50), lat(r.P90), lat(r.P99), lat(r.Max), r.PerSecond,
			r.Lost, r.Errors, ratio, opt(r.CPUPer1000, 1), opt(r.RSS, 1))
	}
	return tw.Flush()
}

// startup is the exec → oauth.ping figure.
type startup struct {
	Apps    int       `json:"apps"`    // registered when it was measured (by the bench's preload)
	Samples []float64 `json:"samples"` // ms, one per start
	Median  float64   `json:"median_ms"`
}

func newStartup(apps int, samples []time.Duration) *startup {
	s := &startup{Apps: apps}
	for _, d := range samples {
		s.Samples = append(s.Samples, float64(d)/float64(time.Millisecond))
	}
	sorted := slices.Clone(s.Samples)
	slices.Sort(sorted)
	if n := len(sorted); n > 0 {
		s.Median = sorted[n/2]
		if n%2 == 0 {
			s.Median = (sorted[n/2-1] + sorted[n/2]) / 2
		}
	}
	return s
}

// memory is one sample of the daemon's memory, in MB.
type memory struct {
	When string  `json:"when"`
	RSS  float64 `json:"rss_mb"`  // VmRSS
	Anon float64 `json:"anon_mb"` // RssAnon: heap, stacks, runtime
	File float64 `json:"file_mb"` // RssFile: the binary, bbolt's mmap; reclaimable
}

func newMemory(when string, s procSample) memory {
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	return memory{When: when, RSS: mb(s.RSS), Anon: mb(s.Anon), File: mb(s.File)}
}

// writeMemory prints the memory samples as a table.
func writeMemory(w io.Writer, samples []memory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "daemon memory\tVmRSS MB\tRssAnon MB\tRssFile MB")
	for _, m := range samples {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\n", m.When, m.RSS, m.Anon, m.File)
	}
	return tw.Flush()
}

// report is the -json output.
type report struct {
	Rows    []row    `json:"rows"`
	Startup *startup `json:"startup,omitempty"`
	Memory  []memory `json:"memory,omitempty"`
}

func writeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
