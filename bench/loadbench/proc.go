// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicksPerSecond = 100

// sample is one reading of a process's resource use.
type sample struct {
	at       time.Time
	cpu      time.Duration // user + system CPU time since the process started
	rssBytes int64         // resident set size now
	hwmBytes int64         // peak resident set size so far
	// anonBytes is the anonymous part of rssBytes (heap, stacks); the rest is mostly the binary's own pages,
	// which the kernel maps from the executable file and may drop and read again.
	anonBytes int64
}

// sampler reads /proc/<pid> at a fixed period until stopped.
type sampler struct {
	done    chan struct{}
	mu      sync.Mutex
	samples []sample
	wg      sync.WaitGroup
}

func startSampling(pid int, period time.Duration) *sampler {
	s := &sampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ticker := time.NewTicker(period)
		defer ticker.Stop()
		for {
			if smp, err := readProc(pid); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, smp)
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

// stop ends sampling (with one last reading) and returns every sample.
func (s *sampler) stop() []sample {
	close(s.done)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

func readProc(pid int) (sample, error) {
	at := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return sample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return sample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return sample{}, err
	}
	rss, err := statusKB(status, "VmRSS:")
	if err != nil {
		return sample{}, err
	}
	hwm, err := statusKB(status, "VmHWM:")
	if err != nil {
		return sample{}, err
	}
	anon, err := statusKB(status, "RssAnon:")
	if err != nil {
		return sample{}, err
	}
	return sample{at: at, cpu: cpu, rssBytes: rss * 1024, hwmBytes: hwm * 1024, anonBytes: anon * 1024}, nil
}

// parseStatCPU returns utime + stime (fields 14 and 15) of /proc/<pid>/stat. The command name (field 2) is in
// parentheses and may contain spaces, so fields are counted after its closing parenthesis.
func parseStatCPU(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("unexpected /proc/<pid>/stat: %q", stat)
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (state); utime is field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("unexpected /proc/<pid>/stat: %q", stat)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected utime/stime in /proc/<pid>/stat: %q", stat)
	}
	return time.Duration(utime+stime) * time.Second / clockTicksPerSecond, nil
}

// statusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func statusKB(status []byte, key string) (int64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			value := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB"))
			return strconv.ParseInt(value, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s line in /proc/<pid>/status", key)
}
