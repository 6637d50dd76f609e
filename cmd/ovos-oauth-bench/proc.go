package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture the daemon runs on.
const clockTick = 10 * time.Millisecond

// procSample is what the bench reads of the daemon's process.
type procSample struct {
	CPU time.Duration // utime+stime since it started
	RSS int64         // VmRSS, bytes
	// RSS in two parts: anonymous memory (the Go heap, stacks, the
	// runtime's own), and file-backed pages (the binary's text, bbolt's
	// read-only mmap of the database), which the kernel can drop and read
	// again whenever it needs the memory. RSS also counts shared memory,
	// which the daemon has none of.
	Anon, File int64
}

// readProc samples the process pid. It fails if the process is gone.
func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	m, err := parseStatus(status)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return procSample{CPU: cpu, RSS: m.rss, Anon: m.anon, File: m.file}, nil
}

// parseStatCPU returns utime+stime of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses
// itself, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	// After ") ": field 3 (state) is fields[0]; utime is field 14, stime 15.
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("utime or stime %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// statusMemory is what parseStatus reads of /proc/<pid>/status, in bytes.
type statusMemory struct {
	rss, anon, file int64
}

// parseStatus returns VmRSS, RssAnon and RssFile of /proc/<pid>/status.
// VmRSS is required; the other two (Linux 4.5+) are 0 when missing.
func parseStatus(status []byte) (statusMemory, error) {
	var m statusMemory
	haveRSS := false
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "VmRSS":
			dst, haveRSS = &m.rss, true
		case "RssAnon":
			dst = &m.anon
		case "RssFile":
			dst = &m.file
		default:
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return m, fmt.Errorf("%s:%s, want a number of kB", name, rest)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 {
			return m, fmt.Errorf("%s:%s, want a number of kB", name, rest)
		}
		*dst = kb * 1024
	}
	if !haveRSS {
		return m, errors.New("no VmRSS line (a kernel thread or a zombie?)")
	}
	return m, nil
}
