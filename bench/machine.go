package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes the computer a report was measured on.
type Machine struct {
	// CPU is the model name from /proc/cpuinfo.
	CPU string
	// Cores is the number of logical CPUs, as runtime.NumCPU reports it.
	Cores int
	// MemoryBytes is MemTotal from /proc/meminfo.
	MemoryBytes uint64
	// LoadAverage is the 1, 5 and 15 minute load average from /proc/loadavg when the report
	// was written.
	LoadAverage string
	// GoVersion, OS and Arch are those of the toolchain that built the report generator.
	GoVersion, OS, Arch string
}

// ReadMachine reads the machine description. A field that cannot be read is left empty.
func ReadMachine() Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseUint(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemoryBytes = kb * 1024
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file with that key.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		name, value, ok := strings.Cut(scanner.Text(), ":")
		if ok && strings.TrimSpace(name) == key {
			return strings.TrimSpace(value)
		}
	}
	return ""
}
